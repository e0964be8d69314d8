//! Key encoding: turning typed keys into bytes (or fixed-width integers) whose
//! order is the order of the typed keys.

mod dictionary;

pub use dictionary::{ArchivedDictArchive, DictArchive, DictionaryKeyEncoder};
