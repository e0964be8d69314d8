//! Field attributes: `#[state(key = K)]`, and on table fields the TTL
//! options `ttl = <ms>`, `ttl_update = ..`, `ttl_visibility = ..`,
//! `ttl_time = ..`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, Token, Type};

const ACCEPTED: &str =
    "accepted form: `#[state(key = <key type>)]`, e.g. `#[state(key = (Dict<String>, u64))]`";

const TTL_ACCEPTED: &str = "TTL options of a table field: `ttl = <positive integer, in the table's time unit (milliseconds by convention)>`, `ttl_update = create_and_write | read_and_write`, `ttl_visibility = never_return_expired | return_expired`, `ttl_time = event | processing`";

/// The TTL of a table field, as `#[state(ttl = .., ttl_* = ..)]` says.
pub struct Ttl {
    /// The time to live (positive).
    pub ttl: i64,
    /// `ttl_update = read_and_write`.
    pub read_and_write: bool,
    /// `ttl_visibility = return_expired`.
    pub return_expired: bool,
    /// `ttl_time = processing`.
    pub processing: bool,
    /// Where `ttl` was written.
    pub span: Span,
}

/// What the `#[state(...)]` attributes of one field say.
#[derive(Default)]
pub struct FieldAttr {
    /// The key encoding, if the field is a table.
    pub key: Option<Type>,
    /// The TTL, if the table's entries expire.
    pub ttl: Option<Ttl>,
}

enum Item {
    Key(Ident, Box<Type>),
    Ttl(Ident, i64),
    /// A `ttl_*` option: its name and whether it picks the non-default choice.
    Option(Ident, bool),
}

/// The choices of each `ttl_*` option: (default, other).
fn choices(option: &str) -> Option<(&'static str, &'static str)> {
    match option {
        "ttl_update" => Some(("create_and_write", "read_and_write")),
        "ttl_visibility" => Some(("never_return_expired", "return_expired")),
        "ttl_time" => Some(("event", "processing")),
        _ => None,
    }
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), ACCEPTED))?;
        let text = name.to_string();
        let is_ttl = text == "ttl" || choices(&text).is_some();
        if text != "key" && !is_ttl {
            let accepted = if text.starts_with("ttl") {
                TTL_ACCEPTED
            } else {
                ACCEPTED
            };
            return Err(syn::Error::new(
                name.span(),
                format!("unknown `state` argument `{name}`; {accepted}"),
            ));
        }
        if !input.peek(Token![=]) {
            let msg = if is_ttl {
                format!("expected `{name} = ..`; {TTL_ACCEPTED}")
            } else {
                format!("expected `key = <type>`; {ACCEPTED}")
            };
            return Err(syn::Error::new(name.span(), msg));
        }
        input.parse::<Token![=]>()?;
        if text == "key" {
            let ty: Type = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected a key type after `key =`; {ACCEPTED}"),
                )
            })?;
            return Ok(Item::Key(name, Box::new(ty)));
        }
        if text == "ttl" {
            let bad = |span| {
                syn::Error::new(
                    span,
                    "`ttl` must be a positive integer literal that fits an i64, in the table's time unit (milliseconds by convention), e.g. `ttl = 60_000`",
                )
            };
            let lit: syn::Lit = input.parse().map_err(|e| bad(e.span()))?;
            let syn::Lit::Int(int) = &lit else {
                return Err(bad(lit.span()));
            };
            return match int.base10_parse::<i64>() {
                Ok(v) if v > 0 && matches!(int.suffix(), "" | "i64") => Ok(Item::Ttl(name, v)),
                _ => Err(bad(int.span())),
            };
        }
        let (default, other) = choices(&text).unwrap_or(("", ""));
        let value: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `{default}` or `{other}` after `{name} =`"),
            )
        })?;
        if value == default {
            Ok(Item::Option(name, false))
        } else if value == other {
            Ok(Item::Option(name, true))
        } else {
            Err(syn::Error::new(
                value.span(),
                format!("unknown `{name}` value `{value}`: expected `{default}` (the default) or `{other}`"),
            ))
        }
    }
}

/// `true` for the attributes this macro consumes.
pub fn is_state(attr: &Attribute) -> bool {
    attr.path().is_ident("state")
}

/// Parses every `#[state(...)]` of a field, reporting duplicates and unknown keys.
pub fn parse(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> FieldAttr {
    let mut out = FieldAttr::default();
    let mut options: Vec<(Ident, bool)> = Vec::new();
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
                for item in items {
                    match item {
                        Item::Key(name, ty) => {
                            if out.key.is_some() {
                                errors.push(syn::Error::new(
                                    name.span(),
                                    "duplicate `key` for this field",
                                ));
                            } else {
                                out.key = Some(*ty);
                            }
                        }
                        Item::Ttl(name, ttl) => {
                            if out.ttl.is_some() {
                                errors.push(syn::Error::new(
                                    name.span(),
                                    "duplicate `ttl` for this field",
                                ));
                            } else {
                                out.ttl = Some(Ttl {
                                    ttl,
                                    read_and_write: false,
                                    return_expired: false,
                                    processing: false,
                                    span: name.span(),
                                });
                            }
                        }
                        Item::Option(name, other) => {
                            if options.iter().any(|(n, _)| *n == name) {
                                errors.push(syn::Error::new(
                                    name.span(),
                                    format!("duplicate `{name}` for this field"),
                                ));
                            } else {
                                options.push((name, other));
                            }
                        }
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    match &mut out.ttl {
        Some(ttl) => {
            for (name, other) in options {
                match name.to_string().as_str() {
                    "ttl_update" => ttl.read_and_write = other,
                    "ttl_visibility" => ttl.return_expired = other,
                    _ => ttl.processing = other,
                }
            }
        }
        None => {
            if let Some((name, _)) = options.first() {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`{name}` needs `ttl = <time to live>` on the same field"),
                ));
            }
        }
    }
    out
}
