//! Code generation.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::ast::{Field, Input};
use crate::{args, valid};

/// Entry point: parses, checks and expands, or emits the struct next to the errors.
pub fn state_store(args_tokens: TokenStream, input: TokenStream) -> TokenStream {
    let item: syn::ItemStruct = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            // The item is emitted next to the error without its `#[state]`
            // attributes, which would otherwise add errors of their own.
            let (err, item) = match syn::parse2::<syn::Item>(input.clone()) {
                Ok(syn::Item::Enum(mut en)) => {
                    for v in en.variants.iter_mut() {
                        strip_fields(v.fields.iter_mut());
                    }
                    let err = syn::Error::new_spanned(
                        en.enum_token,
                        "#[state_store] applies to structs with named fields, not enums",
                    );
                    (err, en.into_token_stream())
                }
                Ok(syn::Item::Union(mut un)) => {
                    strip_fields(un.fields.named.iter_mut());
                    let err = syn::Error::new_spanned(
                        un.union_token,
                        "#[state_store] applies to structs with named fields, not unions",
                    );
                    (err, un.into_token_stream())
                }
                Ok(other) => {
                    let err = syn::Error::new_spanned(
                        &other,
                        "#[state_store] applies to structs with named fields",
                    );
                    (err, other.into_token_stream())
                }
                Err(_) => (e, input),
            };
            let err = err.into_compile_error();
            return quote!(#item #err);
        }
    };

    let mut errors = Vec::new();
    let (args, arg_error) = args::parse(args_tokens);
    errors.extend(arg_error);
    let input = Input::from_item(&item, &mut errors);
    valid::check(&input, args::is_mmap(&args), &mut errors);
    if args.backend.is_none() && !args::has_default() {
        errors.push(syn::Error::new(
            proc_macro2::Span::call_site(),
            "no default typed backend in this build: enable the cargo feature `btree` or `ahash` of laminar-core, or name one: `#[state_store(backend = Mmap)]` (feature `mmap`)",
        ));
    }

    if let Some(combined) = errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    }) {
        let stripped = strip(&item);
        let err = combined.into_compile_error();
        return quote!(#stripped #err);
    }
    generate(&input, &args)
}

/// The struct without `#[state]` attributes (emitted on errors so the user sees
/// only the macro's errors, not follow-ons about the struct).
fn strip(item: &syn::ItemStruct) -> syn::ItemStruct {
    let mut item = item.clone();
    strip_fields(item.fields.iter_mut());
    item
}

fn strip_fields<'a>(fields: impl Iterator<Item = &'a mut syn::Field>) {
    for f in fields {
        f.attrs.retain(|a| !crate::attr::is_state(a));
    }
}

/// `tokens` with every span set to `span`, so that an error about a path
/// the macro wrote (`laminar_core::...::Key`) points at the user's tokens
/// it is about instead of at the attribute.
fn respan(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut inner = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                inner.set_span(span);
                t = proc_macro2::TokenTree::Group(inner);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

fn generate(input: &Input, args: &args::Args) -> TokenStream {
    let p = match &args.krate {
        Some(krate) => quote!(#krate::state::__private),
        None => quote!(::laminar_core::state::__private),
    };
    let item = input.item;
    let name = &item.ident;
    let vis = &item.vis;
    let struct_attrs = &item.attrs;
    let struct_token = &item.struct_token;

    let backend = match &args.backend {
        Some(id) => respan(quote!(#p::backends::#id), id.span()),
        None => quote!(#p::DefaultBackend),
    };
    // `#p` spanned on the user's token that a bound or check is about.
    let p_at = |span: proc_macro2::Span| respan(p.clone(), span);
    let table_ty = |f: &Field, key: &syn::Type| -> TokenStream {
        let ty = f.ty;
        let p = p_at(key.span());
        quote_spanned!(key.span()=> #p::Table<#key, #ty, #backend>)
    };

    let mut fields = Vec::new();
    // The generated impl is bounded by what it needs: a key without an
    // encoding, a value without rkyv or a backend that is not available is
    // then one error on the user's tokens, not one per generated call.
    let mut bounds = Vec::new();
    let mut inits = Vec::new();
    let mut accessors = Vec::new();
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    let mut binds = Vec::new();
    let mut locals = Vec::new();
    let mut local_types = Vec::new();
    let mut sizes = Vec::new();
    // `backend = Mmap`: opening each table file, committing it, assigning on restore.
    let mmap = args::is_mmap(args);
    let mut opens = Vec::new();
    let mut commits = Vec::new();
    let mut finishes = Vec::new();
    let mut assigns = Vec::new();
    let mut puts = Vec::new();

    for f in &input.fields {
        let ident = f.ident;
        let fvis = f.vis;
        let attrs = &f.attrs;
        let ty = f.ty;
        let label = unraw(ident);
        let local = format_ident!("__laminar_{}", label);
        binds.push(quote!(#ident: #local));
        locals.push(local.clone());
        match &f.key {
            Some(key) => {
                let tt = table_ty(f, key);
                local_types.push(tt.clone());
                fields.push(quote!(#(#attrs)* #fvis #ident: #tt));
                let (pk, pv) = (p_at(key.span()), p_at(ty.span()));
                bounds.push(quote_spanned!(key.span()=> #key: #pk::Key));
                bounds.push(quote_spanned!(ty.span()=> #ty: #pv::Value));
                inits.push(quote!(#ident: <#tt>::new()));
                let getter = ident.clone();
                let getter_mut = format_ident!("{}_mut", label, span = ident.span());
                let doc = format!("The `{label}` table.");
                let doc_mut = format!("The `{label}` table, mutably.");
                accessors.push(quote! {
                    #[doc = #doc]
                    #[inline]
                    #fvis fn #getter(&self) -> &#tt { &self.#ident }
                    #[doc = #doc_mut]
                    #[inline]
                    #fvis fn #getter_mut(&mut self) -> &mut #tt { &mut self.#ident }
                });
                writes.push(quote!(<#tt>::write_snapshot(&self.#ident, #label, &mut __entries)?;));
                reads.push(quote! {
                    let (#local, __n) = <#tt>::read_snapshot(#label, __data)?;
                    __used += __n;
                });
                sizes.push(quote!(+ <#tt>::size_bytes(&self.#ident)));
                assigns.push(quote!(<#tt>::assign(&mut self.#ident, #local)?;));
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
                let original = f.original;
                let _ = original;
                fields.push(quote!(#(#attrs)* #fvis #ident: #ty));
                local_types.push(quote!(#ty));
                let pv = p_at(ty.span());
                bounds.push(
                    quote_spanned!(ty.span()=> #ty: #pv::Value + #pv::core::default::Default),
                );
                inits.push(quote_spanned!(ty.span()=> #ident: <#ty as #p::core::default::Default>::default()));
                writes
                    .push(quote!(#p::write_single::<#ty>(&self.#ident, #label, &mut __entries)?;));
                reads.push(quote! {
                    let #local = #p::read_single::<#ty>(#label, __data)?;
                    __used += 1;
                });
                assigns.push(quote!(self.#ident = #local;));
                opens.push(quote! {
                    let #local = #p::MmapValues::read_single::<#ty>(&__values, #label)?;
                });
                puts.push(quote! {
                    #p::MmapValues::put_single::<#ty>(&mut self.__laminar_values, &self.#ident, #label)?;
                });
            }
        }
    }

    let generics = &item.generics;
    let mut hidden_init = quote!();
    let mut mmap_methods = quote!();
    if mmap {
        fields.push(quote! {
            #[doc(hidden)]
            __laminar_values: #p::MmapValues
        });
        hidden_init =
            quote!(__laminar_values: <#p::MmapValues as #p::core::default::Default>::default(),);
        mmap_methods = quote! {
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
        };
    }
    let body = quote!({ #(#fields,)* });
    let struct_def = quote! {
        #(#struct_attrs)*
        #vis #struct_token #name #generics #body
    };
    let _ = ToTokens::to_token_stream(&item.ident);

    quote! {
        #struct_def

        #[allow(dead_code)]
        impl #name
        where
            #backend: #p::Backend,
            #(#bounds,)*
        {
            /// An empty state: empty tables, single values at their `Default`.
            #vis fn new() -> Self {
                Self { #(#inits,)* #hidden_init }
            }

            #(#accessors)*

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

            #mmap_methods

            /// Approximate memory of all tables, in bytes (see `Table::size_bytes`).
            #vis fn size_bytes(&self) -> #p::core::primitive::usize {
                0 #(#sizes)*
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands `#[state_store(args)]` on a struct with a table field and a
    /// single value.
    fn expand(args: TokenStream) -> String {
        let item = quote! {
            struct State {
                #[state(key = (Dict<String>, u64))]
                counts: u64,
                watermark: i64,
            }
        };
        state_store(args, item).to_string()
    }

    /// Every generated path goes through `crate = ...`: none names
    /// `laminar_core` (trybuild cannot check this, since its test crates
    /// always depend on `laminar_core` under that name).
    #[test]
    fn crate_argument_replaces_every_path_root() {
        if !crate::args::has_default() {
            // Built alone (`cargo test -p laminar-core-macros`), no backend
            // feature is on: every expansion is that error.
            let out = expand(quote!(crate = my_engine::deps::state_lib));
            assert!(out.contains("no default typed backend"), "{out}");
            return;
        }
        let mut cases = vec![quote!(crate = my_engine::deps::state_lib)];
        if cfg!(feature = "mmap") {
            cases.push(quote!(backend = Mmap, crate = my_engine::deps::state_lib));
        }
        for args in cases {
            let out = expand(args.clone());
            assert!(!out.contains("compile_error"), "{args}: {out}");
            assert!(
                out.contains("my_engine :: deps :: state_lib :: state :: __private"),
                "{args}: {out}"
            );
            assert!(!out.contains("laminar_core"), "{args}: {out}");
        }
        assert!(expand(quote!()).contains(":: laminar_core :: state :: __private"));
    }

    /// A `crate` path with generic arguments is refused where it is written.
    #[test]
    fn crate_path_with_generic_arguments_is_an_error() {
        let out = expand(quote!(crate = deps::<u8>));
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("takes a path to laminar_core"), "{out}");
    }
}
