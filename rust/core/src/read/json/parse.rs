//! The light value tree of the slow path (records `serde_json` decided) and of the
//! inference prefix: strings owned, numbers already converted. The fast path
//! ([`super::direct`]) decodes text straight into columns instead.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum J<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<J<'a>>),
    Obj(Obj<'a>),
}

pub type Obj<'a> = Vec<(Cow<'a, str>, J<'a>)>;
