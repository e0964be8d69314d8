//! Code generation, one module per generated item: the struct and its
//! per-field items (`fields`), snapshots (`snapshot`) and, with
//! `backend = Mmap`, persistence (`mmap`). This module holds what they
//! share and assembles the output.

mod fields;
mod mmap;
mod snapshot;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::args::{self, Args};
use crate::ast::{Field, Input};

/// What every generator needs: the input and the paths the output names.
pub struct Gen<'a> {
    /// The checked input.
    pub input: &'a Input<'a>,
    /// `<crate>::state::__private`: the root of every path the output names.
    pub p: TokenStream,
    /// The backend marker type.
    pub backend: TokenStream,
    /// `backend = Mmap`.
    pub mmap: bool,
}

impl<'a> Gen<'a> {
    fn new(input: &'a Input<'a>, args: &Args) -> Self {
        let p = match &args.krate {
            Some(krate) => quote!(#krate::state::__private),
            None => quote!(::laminar_core::state::__private),
        };
        let backend = match &args.backend {
            Some(id) => respan(quote!(#p::backends::#id), id.span()),
            None => quote!(#p::DefaultBackend),
        };
        Gen {
            input,
            p,
            backend,
            mmap: args::is_mmap(args),
        }
    }

    /// `#p` spanned on the user's token that a bound or check is about.
    pub fn p_at(&self, span: Span) -> TokenStream {
        respan(self.p.clone(), span)
    }

    /// The type of table field `f` with key `key`.
    pub fn table_ty(&self, f: &Field, key: &syn::Type) -> TokenStream {
        let ty = f.ty;
        let backend = &self.backend;
        let p = self.p_at(syn::spanned::Spanned::span(key));
        quote_spanned!(syn::spanned::Spanned::span(key)=> #p::Table<#key, #ty, #backend>)
    }

    /// The type a field is read into: its table type, or its written type.
    pub fn field_ty(&self, f: &Field) -> TokenStream {
        match &f.key {
            Some(key) => self.table_ty(f, key),
            None => {
                let ty = f.ty;
                quote!(#ty)
            }
        }
    }

    /// The initializer of the hidden field (`backend = Mmap`), or nothing.
    pub fn hidden_init(&self) -> TokenStream {
        if self.mmap {
            let p = &self.p;
            quote!(__laminar_values: <#p::MmapValues as #p::core::default::Default>::default(),)
        } else {
            quote!()
        }
    }
}

/// The field's name without `r#`: its label in snapshots and file names.
pub fn label(f: &Field) -> String {
    let s = f.ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// The local variable a generated method reads field `f` into.
pub fn local(f: &Field) -> syn::Ident {
    format_ident!("__laminar_{}", label(f))
}

/// `field: local` for every field, to build `Self { .. }` from locals.
pub fn binds(input: &Input) -> Vec<TokenStream> {
    input
        .fields
        .iter()
        .map(|f| {
            let (ident, local) = (f.ident, local(f));
            quote!(#ident: #local)
        })
        .collect()
}

/// `tokens` with every span set to `span`, so that an error about a path
/// the macro wrote (`laminar_core::...::Key`) points at the user's tokens
/// it is about instead of at the attribute.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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

/// The struct and its inherent impl.
pub fn generate(input: &Input, args: &Args) -> TokenStream {
    let g = Gen::new(input, args);
    let (p, backend) = (&g.p, &g.backend);
    let name = &input.item.ident;
    let struct_def = fields::struct_def(&g);
    let bounds = fields::bounds(&g);
    let new = fields::new(&g);
    let accessors = fields::accessors(&g);
    let snapshot = snapshot::methods(&g);
    let mmap_methods = if g.mmap { mmap::methods(&g) } else { quote!() };
    let size_bytes = fields::size_bytes(&g);
    quote! {
        #struct_def

        #[allow(dead_code)]
        impl #name
        where
            #backend: #p::Backend,
            #(#bounds,)*
        {
            #new

            #(#accessors)*

            #snapshot

            #mmap_methods

            #size_bytes
        }
    }
}
