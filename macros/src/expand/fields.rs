//! The struct itself and its per-field items: the field declarations, the
//! impl's bounds, `new`, the table accessors and `size_bytes`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::{label, Gen};

/// The struct, table fields turned into tables (plus the hidden values
/// field with `backend = Mmap`).
pub fn struct_def(g: &Gen) -> TokenStream {
    let item = g.input.item;
    let mut fields: Vec<TokenStream> = g
        .input
        .fields
        .iter()
        .map(|f| {
            let (attrs, fvis, ident) = (&f.attrs, f.vis, f.ident);
            let ty = g.field_ty(f);
            quote!(#(#attrs)* #fvis #ident: #ty)
        })
        .collect();
    if g.mmap {
        let p = &g.p;
        fields.push(quote! {
            #[doc(hidden)]
            __laminar_values: #p::MmapValues
        });
    }
    let (attrs, vis, struct_token, name, generics) = (
        &item.attrs,
        &item.vis,
        &item.struct_token,
        &item.ident,
        &item.generics,
    );
    let body = quote!({ #(#fields,)* });
    quote! {
        #(#attrs)*
        #vis #struct_token #name #generics #body
    }
}

/// The impl's bounds: what it needs of each key and value type. A key
/// without an encoding, a value without rkyv or a backend that is not
/// available is then one error on the user's tokens, not one per generated
/// call.
pub fn bounds(g: &Gen) -> Vec<TokenStream> {
    let mut bounds = Vec::new();
    for f in &g.input.fields {
        let ty = f.ty;
        let pv = g.p_at(ty.span());
        match &f.key {
            Some(key) => {
                let pk = g.p_at(key.span());
                bounds.push(quote_spanned!(key.span()=> #key: #pk::Key));
                bounds.push(quote_spanned!(ty.span()=> #ty: #pv::Value));
            }
            None => bounds
                .push(quote_spanned!(ty.span()=> #ty: #pv::Value + #pv::core::default::Default)),
        }
    }
    bounds
}

/// `new()`: empty tables, single values at their `Default`.
pub fn new(g: &Gen) -> TokenStream {
    let p = &g.p;
    let vis = &g.input.item.vis;
    let inits = g.input.fields.iter().map(|f| {
        let ident = f.ident;
        match &f.key {
            Some(key) => {
                let tt = g.table_ty(f, key);
                quote!(#ident: <#tt>::new())
            }
            None => {
                let ty = f.ty;
                quote_spanned!(ty.span()=> #ident: <#ty as #p::core::default::Default>::default())
            }
        }
    });
    let hidden_init = g.hidden_init();
    quote! {
        /// An empty state: empty tables, single values at their `Default`.
        #vis fn new() -> Self {
            Self { #(#inits,)* #hidden_init }
        }
    }
}

/// `<field>()` and `<field>_mut()` for every table field.
pub fn accessors(g: &Gen) -> Vec<TokenStream> {
    g.input
        .fields
        .iter()
        .filter_map(|f| {
            let key = f.key.as_ref()?;
            let tt = g.table_ty(f, key);
            let (ident, fvis) = (f.ident, f.vis);
            let label = label(f);
            let getter = ident.clone();
            let getter_mut = format_ident!("{}_mut", label, span = ident.span());
            let doc = format!("The `{label}` table.");
            let doc_mut = format!("The `{label}` table, mutably.");
            Some(quote! {
                #[doc = #doc]
                #[inline]
                #fvis fn #getter(&self) -> &#tt { &self.#ident }
                #[doc = #doc_mut]
                #[inline]
                #fvis fn #getter_mut(&mut self) -> &mut #tt { &mut self.#ident }
            })
        })
        .collect()
}

/// `size_bytes()`: the sum over the tables.
pub fn size_bytes(g: &Gen) -> TokenStream {
    let p = &g.p;
    let vis = &g.input.item.vis;
    let sizes = g.input.fields.iter().filter_map(|f| {
        let tt = g.table_ty(f, f.key.as_ref()?);
        let ident = f.ident;
        Some(quote!(+ <#tt>::size_bytes(&self.#ident)))
    });
    quote! {
        /// Approximate memory of all tables, in bytes (see `Table::size_bytes`).
        #vis fn size_bytes(&self) -> #p::core::primitive::usize {
            0 #(#sizes)*
        }
    }
}
