//! Key encoding: turning typed keys into bytes (or fixed-width integers) whose
//! order is the order of the typed keys.

mod dict;
mod dictionary;
mod encode;

pub use dict::{Dict, DictCode, DictValue};
#[cfg(feature = "ahash")]
pub(crate) use dictionary::folded_multiply;
pub use dictionary::{ArchivedDictArchive, DictArchive, DictionaryKeyEncoder};
pub use encode::{
    add_width, encode_key, CompositeKey, Key, KeyDicts, KeyRepr, KeySink, StackKey, STACK_KEY_CAP,
};
