//! Arguments of `#[state_store(...)]`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, Token};

/// The backends a struct may name, as written.
pub const BACKENDS: &[&str] = &["BTree", "AHash", "Mmap"];

const ACCEPTED: &str = "accepted arguments: `#[state_store]` or `#[state_store(backend = BTree | AHash | Mmap, crate = path::to::laminar_core)]` (both optional)";

/// Parsed `#[state_store(...)]` arguments.
#[derive(Default)]
pub struct Args {
    /// `backend = X`, if given (already checked against [`BACKENDS`]).
    pub backend: Option<Ident>,
    /// `crate = path`, if given: where `laminar_core` is reachable when the
    /// dependency is renamed or re-exported (default `::laminar_core`).
    pub krate: Option<syn::Path>,
}

struct Arg {
    name: Ident,
    value: Option<syn::Type>,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // `parse_any`: `crate` is a keyword.
        let name: Ident = Ident::parse_any(input)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let value: syn::Type = input.parse()?;
            Ok(Arg {
                name,
                value: Some(value),
            })
        } else {
            Ok(Arg { name, value: None })
        }
    }
}

/// Parses the arguments, collecting every error.
pub fn parse(tokens: TokenStream) -> (Args, Option<syn::Error>) {
    let mut args = Args::default();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let list = match Punctuated::<Arg, Token![,]>::parse_terminated.parse2(tokens.clone()) {
        Ok(list) => list,
        Err(e) => {
            push(syn::Error::new(
                e.span(),
                format!("malformed `state_store` arguments; {ACCEPTED}"),
            ));
            return (args, errors);
        }
    };
    for arg in list {
        if arg.name != "backend" && arg.name != "crate" {
            push(syn::Error::new(
                arg.name.span(),
                format!("unknown `state_store` argument `{}`; {ACCEPTED}", arg.name),
            ));
            continue;
        }
        let Some(value) = arg.value else {
            push(syn::Error::new(
                arg.name.span(),
                format!("`{}` needs a value; {ACCEPTED}", arg.name),
            ));
            continue;
        };
        if arg.name == "crate" {
            match value {
                syn::Type::Path(p)
                    if p.qself.is_none()
                        && p.path.segments.iter().all(|s| s.arguments.is_none()) =>
                {
                    if args.krate.is_some() {
                        push(syn::Error::new_spanned(&p, "duplicate `crate` argument"));
                    } else {
                        args.krate = Some(p.path);
                    }
                }
                other => push(syn::Error::new_spanned(
                    &other,
                    format!("`crate` takes a path to laminar_core, such as `crate = my_dep::laminar_core`; {ACCEPTED}"),
                )),
            }
            continue;
        }
        let ident = match &value {
            syn::Type::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
            _ => None,
        };
        match ident {
            Some(id) if BACKENDS.iter().any(|b| id == b) => {
                if let Some(problem) = unavailable(&id) {
                    push(syn::Error::new(id.span(), problem));
                } else if args.backend.is_some() {
                    push(syn::Error::new(id.span(), "duplicate `backend` argument"));
                } else {
                    args.backend = Some(id);
                }
            }
            _ => push(syn::Error::new_spanned(
                &value,
                format!(
                    "unknown backend `{}`; accepted backends: `BTree` (ordered), `AHash` (hash, no scans), `Mmap` (ordered, memory-mapped, persistent with `open`)",
                    quote::quote!(#value)
                ),
            )),
        }
    }
    (args, errors)
}

/// Why backend `id` cannot be used in this build, if it cannot.
fn unavailable(id: &Ident) -> Option<String> {
    let (feature, enabled) = if id == "BTree" {
        ("btree", cfg!(feature = "btree"))
    } else if id == "AHash" {
        ("ahash", cfg!(feature = "ahash"))
    } else {
        ("mmap", cfg!(feature = "mmap"))
    };
    (!enabled).then(|| {
        format!("backend `{id}` needs the cargo feature `{feature}` of laminar-core, which is off in this build")
    })
}

/// `true` if `backend` is the memory-mapped one (which gets `open`/`flush`).
pub fn is_mmap(args: &Args) -> bool {
    args.backend.as_ref().is_some_and(|b| b == "Mmap")
}

/// `true` if some backend exists to be the default (`Mmap` never is).
pub fn has_default() -> bool {
    cfg!(any(feature = "btree", feature = "ahash"))
}
