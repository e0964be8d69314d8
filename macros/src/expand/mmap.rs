//! Persistence with `backend = Mmap`: `open(dir)` and `flush()`, driving the
//! struct-wide commit protocol of `MmapValues` (in the main crate).

use proc_macro2::TokenStream;
use quote::quote;

use super::{binds, label, local, Gen};

/// `open` and `flush`.
pub fn methods(g: &Gen) -> TokenStream {
    let p = &g.p;
    let vis = &g.input.item.vis;
    let mut opens = Vec::new();
    let mut commits = Vec::new();
    let mut puts = Vec::new();
    let mut finishes = Vec::new();
    for f in &g.input.fields {
        let (ident, ty, label, local) = (f.ident, f.ty, label(f), local(f));
        match &f.key {
            Some(key) => {
                let tt = g.table_ty(f, key);
                opens.push(quote! {
                    let #local: #tt = #p::MmapValues::open_table(&__values, #label)?;
                });
                commits.push(quote! {
                    #p::MmapValues::prepare_table(&self.__laminar_values, &mut self.#ident, #label, __generation)?;
                });
                finishes.push(quote! {
                    #p::MmapValues::finish_table(&self.__laminar_values, &mut self.#ident, #label)?;
                });
            }
            None => {
                opens.push(quote! {
                    let #local = #p::MmapValues::read_single::<#ty>(&__values, #label)?;
                });
                puts.push(quote! {
                    #p::MmapValues::put_single::<#ty>(&mut self.__laminar_values, &self.#ident, #label)?;
                });
            }
        }
    }
    let binds = binds(g.input);
    quote! {
        /// Opens (or creates) the persistent state in directory `path`:
        /// one file per table field (`<field>.table`) and one for the
        /// single values (`values.state`), each locked while the state
        /// lives, all as of the last complete [`flush`](Self::flush).
        ///
        /// If a crash interrupted a flush, the state is that of the
        /// last complete flush: table files the interrupted flush
        /// already committed are rolled back (or, if it got past its
        /// commit point, brought forward). Fails with
        /// `StateError::Corruption` only for files that no flush
        /// protocol step explains (damaged or mixed from elsewhere).
        #vis fn open(path: impl #p::core::convert::AsRef<#p::std::path::Path>) -> #p::Result<Self> {
            let __dir: &#p::std::path::Path = #p::core::convert::AsRef::as_ref(&path);
            let __values = #p::MmapValues::open(__dir)?;
            #(#opens)*
            #p::core::result::Result::Ok(Self { #(#binds,)* __laminar_values: __values })
        }

        /// Makes the state durable, atomically across its files (a
        /// no-op for a state from `new()` or `from_snapshot`): after it
        /// returns, a crash reopens to exactly this state or a later
        /// flushed one; a crash during it reopens to the previous one.
        /// Tables commit first, keeping their previous commit; the
        /// values file's commit is the commit point; then tables are
        /// compacted if due. If it fails part-way, later flushes fail
        /// too: reopen the state to recover its last complete flush.
        #vis fn flush(&mut self) -> #p::Result<()> {
            let #p::core::option::Option::Some(__generation) =
                #p::MmapValues::begin_flush(&mut self.__laminar_values)?
            else {
                return #p::core::result::Result::Ok(());
            };
            #(#commits)*
            #(#puts)*
            #p::MmapValues::commit(&mut self.__laminar_values, __generation)?;
            #(#finishes)*
            #p::MmapValues::end_flush(&mut self.__laminar_values);
            #p::core::result::Result::Ok(())
        }
    }
}
