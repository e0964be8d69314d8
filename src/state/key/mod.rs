//! Key encoding: turning typed keys into bytes (or fixed-width integers) whose
//! order is the order of the typed keys.

mod dictionary;
mod encode;

pub use dictionary::{ArchivedDictArchive, DictArchive, DictionaryKeyEncoder};
pub use encode::{
    add_width, encode_key, CompositeKey, Dict, DictCode, DictValue, Key, KeyDicts, KeyRepr,
    KeySink, StackKey, STACK_KEY_CAP,
};
