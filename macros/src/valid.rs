//! Cross-field checks.

use std::collections::HashMap;

use crate::args::{self, Args};
use crate::ast::Input;

/// Whole-struct methods the macro generates; a table field may not take these names.
pub const STRUCT_METHODS: &[&str] = &["new", "snapshot", "restore", "from_snapshot", "size_bytes"];

/// Whole-struct methods generated for `backend = Mmap` only.
pub const MMAP_METHODS: &[&str] = &["open", "flush"];

/// Name of the hidden field the macro adds (with `backend = Mmap`).
pub const HIDDEN_FIELD: &str = "__laminar_values";

/// Pushes every problem of `input` (and of a build without a default
/// backend when `args` names none) to `errors`.
pub fn check(input: &Input, args: &Args, errors: &mut Vec<syn::Error>) {
    fields(input, args::is_mmap(args), errors);
    if args.backend.is_none() && !args::has_default() {
        errors.push(syn::Error::new(
            proc_macro2::Span::call_site(),
            "no default typed backend in this build: enable the cargo feature `btree` or `ahash` of laminar-core, or name one: `#[state_store(backend = Mmap)]` (feature `mmap`)",
        ));
    }
}

/// The struct's shape and fields.
fn fields(input: &Input, mmap: bool, errors: &mut Vec<syn::Error>) {
    let generics = &input.item.generics;
    const GENERIC: &str =
        "#[state_store] does not support generic structs: name concrete key and value types";
    if !generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(generics, GENERIC));
    } else if let Some(w) = &generics.where_clause {
        // `Generics` prints no `where` clause: span the clause itself.
        errors.push(syn::Error::new_spanned(w, GENERIC));
    }
    if input.fields.is_empty() && matches!(input.item.fields, syn::Fields::Named(_)) {
        errors.push(syn::Error::new_spanned(
            &input.item.ident,
            "#[state_store] needs at least one field",
        ));
    }
    // Generated method name -> the field that generates it.
    let mut methods: HashMap<String, &syn::Ident> = HashMap::new();
    for f in &input.fields {
        for a in &f.attrs {
            if a.path().is_ident("cfg") || a.path().is_ident("cfg_attr") {
                errors.push(syn::Error::new_spanned(
                    a,
                    "#[cfg] and #[cfg_attr] are not supported on #[state_store] fields: the snapshot layout must not depend on features; put the cfg on the whole struct",
                ));
            }
        }
        if f.ident == HIDDEN_FIELD {
            errors.push(syn::Error::new_spanned(
                f.ident,
                format!("the field name `{HIDDEN_FIELD}` is reserved for the struct's generated storage; rename the field"),
            ));
        }
        if f.key.is_none() {
            continue;
        }
        let name = f.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
        if STRUCT_METHODS.contains(&name.as_str())
            || (mmap && MMAP_METHODS.contains(&name.as_str()))
        {
            errors.push(syn::Error::new_spanned(
                f.ident,
                format!("field `{name}` collides with the generated method `{name}()`; rename the field (generated: `new`, `snapshot`, `restore`, `from_snapshot`, `size_bytes`, `open` and `flush` with `backend = Mmap`, and `<field>()`/`<field>_mut()` per table field)"),
            ));
        }
        for m in [name.clone(), format!("{name}_mut")] {
            if let Some(other) = methods.insert(m.clone(), f.ident) {
                errors.push(syn::Error::new_spanned(
                    f.ident,
                    format!("table field `{name}` generates the accessor `{m}()`, which table field `{other}` also generates; rename one of them"),
                ));
            }
        }
    }
}
