//! A typed view of the input struct that keeps the original tokens for spans.

use syn::{Attribute, Ident, Type, Visibility};

use crate::attr;

/// One named field.
pub struct Field<'a> {
    /// Its name.
    pub ident: &'a Ident,
    /// Its written type (the value type of a table).
    pub ty: &'a Type,
    /// Its visibility.
    pub vis: &'a Visibility,
    /// Its attributes other than `#[state]`.
    pub attrs: Vec<&'a Attribute>,
    /// The key encoding if the field is a table.
    pub key: Option<Type>,
}

/// The input struct.
pub struct Input<'a> {
    /// The original item.
    pub item: &'a syn::ItemStruct,
    /// Its named fields (empty if the struct has none).
    pub fields: Vec<Field<'a>>,
}

impl<'a> Input<'a> {
    /// Builds the view, pushing shape errors (tuple/unit structs) to `errors`.
    pub fn from_item(item: &'a syn::ItemStruct, errors: &mut Vec<syn::Error>) -> Self {
        let mut fields = Vec::new();
        match &item.fields {
            syn::Fields::Named(named) => {
                for f in &named.named {
                    let Some(ident) = f.ident.as_ref() else { continue };
                    let parsed = attr::parse(&f.attrs, errors);
                    fields.push(Field {
                        ident,
                        ty: &f.ty,
                        vis: &f.vis,
                        attrs: f.attrs.iter().filter(|a| !attr::is_state(a)).collect(),
                        key: parsed.key,
                    });
                }
            }
            syn::Fields::Unnamed(u) => errors.push(syn::Error::new_spanned(
                u,
                "#[state_store] needs a struct with named fields (`struct S { field: T, .. }`), not a tuple struct",
            )),
            syn::Fields::Unit => errors.push(syn::Error::new_spanned(
                &item.ident,
                "#[state_store] needs a struct with named fields (`struct S { field: T, .. }`), not a unit struct",
            )),
        }
        Input { item, fields }
    }
}
