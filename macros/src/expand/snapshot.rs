//! Snapshots: `snapshot`, `from_snapshot`, `restore` and the hidden
//! `__laminar_read` they share.

use proc_macro2::TokenStream;
use quote::quote;

use super::{binds, label, local, Gen};

/// The snapshot methods.
pub fn methods(g: &Gen) -> TokenStream {
    let p = &g.p;
    let vis = &g.input.item.vis;
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    let mut assigns = Vec::new();
    let mut locals = Vec::new();
    let mut local_types = Vec::new();
    for f in &g.input.fields {
        let (ident, ty, label, local) = (f.ident, f.ty, label(f), local(f));
        let tt = g.field_ty(f);
        if f.key.is_some() {
            writes.push(quote!(<#tt>::write_snapshot(&self.#ident, #label, &mut __entries)?;));
            reads.push(quote! {
                let (#local, __n) = <#tt>::read_snapshot(#label, __data)?;
                __used += __n;
            });
            assigns.push(quote!(<#tt>::assign(&mut self.#ident, #local)?;));
        } else {
            writes.push(quote!(#p::write_single::<#ty>(&self.#ident, #label, &mut __entries)?;));
            reads.push(quote! {
                let #local = #p::read_single::<#ty>(#label, __data)?;
                __used += 1;
            });
            assigns.push(quote!(self.#ident = #local;));
        }
        locals.push(local);
        local_types.push(tt);
    }
    let binds = binds(g.input);
    let hidden_init = g.hidden_init();
    quote! {
        /// Captures every table (with its dictionaries) and single value in
        /// one `StateSnapshot`.
        #vis fn snapshot(&self) -> #p::Result<#p::StateSnapshot> {
            let mut __entries = #p::StateSnapshotBuilder::with_capacity(0, 0);
            #(#writes)*
            #p::core::result::Result::Ok(#p::StateSnapshotBuilder::finish(__entries))
        }

        /// Every field read from `snapshot`, validated.
        #[doc(hidden)]
        fn __laminar_read(
            __snapshot: &#p::StateSnapshot,
        ) -> #p::Result<(#(#local_types,)*)> {
            let __data: &#p::StateSnapshot = __snapshot;
            let mut __used: #p::core::primitive::usize = 0;
            #(#reads)*
            #p::check_consumed(__used, #p::StateSnapshot::len(__data))?;
            #p::core::result::Result::Ok((#(#locals,)*))
        }

        /// Builds a state from a snapshot taken by [`snapshot`](Self::snapshot),
        /// validating every byte (bad bytes are an error, never a panic).
        #vis fn from_snapshot(__snapshot: &#p::StateSnapshot) -> #p::Result<Self> {
            let (#(#locals,)*) = Self::__laminar_read(__snapshot)?;
            #p::core::result::Result::Ok(Self { #(#binds,)* #hidden_init })
        }

        /// Replaces the whole state with `snapshot`; a bad snapshot is an
        /// error that leaves the state unchanged. Persistent `Mmap` state
        /// stays on its files (durable at the next `flush`); there an I/O
        /// error part way may leave some tables replaced in RAM, while the
        /// files keep the last flush.
        #vis fn restore(&mut self, __snapshot: &#p::StateSnapshot) -> #p::Result<()> {
            // Not through `from_snapshot`: a struct that implements
            // `Drop` cannot be taken apart, and its `drop` would run on
            // the temporary.
            let (#(#locals,)*) = Self::__laminar_read(__snapshot)?;
            #(#assigns)*
            #p::core::result::Result::Ok(())
        }
    }
}
