//! Field attributes: `#[state(key = K)]`.

use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, Token, Type};

const ACCEPTED: &str =
    "accepted form: `#[state(key = <key type>)]`, e.g. `#[state(key = (Dict<String>, u64))]`";

/// What the `#[state(...)]` attributes of one field say.
#[derive(Default)]
pub struct FieldAttr {
    /// The key encoding, if the field is a table.
    pub key: Option<Type>,
}

enum Item {
    Key(Ident, Type),
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), ACCEPTED))?;
        if name != "key" {
            return Err(syn::Error::new(
                name.span(),
                format!("unknown `state` argument `{name}`; {ACCEPTED}"),
            ));
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!("expected `key = <type>`; {ACCEPTED}"),
            ));
        }
        input.parse::<Token![=]>()?;
        let ty: Type = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected a key type after `key =`; {ACCEPTED}"),
            )
        })?;
        Ok(Item::Key(name, ty))
    }
}

/// `true` for the attributes this macro consumes.
pub fn is_state(attr: &Attribute) -> bool {
    attr.path().is_ident("state")
}

/// Parses every `#[state(...)]` of a field, reporting duplicates and unknown keys.
pub fn parse(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> FieldAttr {
    let mut out = FieldAttr::default();
    for attr in attrs.iter().filter(|a| is_state(a)) {
        let list = match &attr.meta {
            syn::Meta::List(list) => list,
            other => {
                errors.push(syn::Error::new_spanned(other, ACCEPTED));
                continue;
            }
        };
        let items =
            list.parse_args_with(syn::punctuated::Punctuated::<Item, Token![,]>::parse_terminated);
        match items {
            Ok(items) => {
                if items.is_empty() {
                    errors.push(syn::Error::new_spanned(list, ACCEPTED));
                }
                for Item::Key(name, ty) in items {
                    if out.key.is_some() {
                        errors.push(syn::Error::new(
                            name.span(),
                            "duplicate `key` for this field",
                        ));
                    } else {
                        out.key = Some(ty);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    out
}
