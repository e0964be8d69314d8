//! What the macro emits for bad input: the item itself, without its
//! `#[state]` attributes, next to `compile_error!`s, so the user sees the
//! macro's errors and not fifty follow-ons about a missing struct.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// Input that is not a struct (an enum, a union, another item, or tokens
/// that are no item): the item next to one error saying what is accepted.
pub fn not_a_struct(input: TokenStream, parse_error: syn::Error) -> TokenStream {
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
        Err(_) => (parse_error, input),
    };
    let err = err.into_compile_error();
    quote!(#item #err)
}

/// A struct with problems: the struct next to every error, combined.
pub fn with_errors(item: &syn::ItemStruct, errors: Vec<syn::Error>) -> TokenStream {
    let mut item = item.clone();
    strip_fields(item.fields.iter_mut());
    let err = errors
        .into_iter()
        .reduce(|mut all, e| {
            all.combine(e);
            all
        })
        .map(syn::Error::into_compile_error);
    quote!(#item #err)
}

fn strip_fields<'a>(fields: impl Iterator<Item = &'a mut syn::Field>) {
    for f in fields {
        f.attrs.retain(|a| !crate::attr::is_state(a));
    }
}
