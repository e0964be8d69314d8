//! The `#[state_store]` attribute macro of `laminar-core`.
//!
//! Use it through `laminar_core::state::state_store`; the generated code
//! refers to `::laminar_core` by absolute paths, or to the path given as
//! `crate = ...`. The crate only parses the
//! input and hands off: `args` (macro arguments), `ast` (typed view of the
//! struct), `attr` (field attributes), `valid` (cross-field checks) and
//! `expand` (code generation).
#![warn(missing_docs)]

use proc_macro::TokenStream;

mod args;
mod ast;
mod attr;
mod expand;
mod valid;

/// Turns an operator's state struct into typed tables with snapshot support.
///
/// Fields marked `#[state(key = K)]` become `Table<K, V, Backend>` (where `V`
/// is the written field type); other fields stay single values. Optional
/// arguments: `backend = BTree | AHash | Mmap` (default: `DefaultBackend`,
/// chosen by cargo features; never `Mmap`), and `crate = path` naming where
/// `laminar_core` is when it is renamed or re-exported (default
/// `::laminar_core`). With `backend = Mmap` the struct
/// also gets `open(dir)` and `flush()`. See `laminar_core::state::typed` for
/// the generated API.
#[proc_macro_attribute]
pub fn state_store(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::state_store(args.into(), input.into()).into()
}
