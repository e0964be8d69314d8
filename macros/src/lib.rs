//! The `#[state_store]` attribute macro of `laminar-core`.
//!
//! Use it through `laminar_core::state::state_store`; the generated code
//! refers to `::laminar_core` by absolute paths, or to the path given as
//! `crate = ...`. This file only parses the input and hands off, one module
//! per phase: `args` (macro arguments), `ast` (typed view of the struct),
//! `attr` (field attributes), `valid` (cross-field checks), `fallback` (what
//! is emitted for bad input) and `expand` (code generation, one module per
//! generated item).
#![warn(missing_docs)]

use proc_macro::TokenStream;

mod args;
mod ast;
mod attr;
mod expand;
mod fallback;
mod valid;

/// Turns an operator's state struct into typed tables with snapshot support.
///
/// Fields marked `#[state(key = K)]` become `Table<K, V, Backend>` (where `V`
/// is the written field type); other fields stay single values. Optional
/// arguments: `backend = BTree | AHash | Mmap` (default: `DefaultBackend`,
/// chosen by cargo features; never `Mmap`), and `crate = path` naming where
/// `laminar_core` is when it is renamed or re-exported (default
/// `::laminar_core`). With `backend = Mmap` the struct
/// also gets `open(dir)` and `flush()`. See `laminar_core::state::typed` for
/// the generated API.
#[proc_macro_attribute]
pub fn state_store(args: TokenStream, input: TokenStream) -> TokenStream {
    run(args.into(), input.into()).into()
}

/// Parses and checks, then expands; on bad input emits the struct next to
/// every error at once.
fn run(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: syn::ItemStruct = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => return fallback::not_a_struct(input, e),
    };
    let mut errors = Vec::new();
    let (args, arg_error) = args::parse(args);
    errors.extend(arg_error);
    let input = ast::Input::from_item(&item, &mut errors);
    valid::check(&input, &args, &mut errors);
    if !errors.is_empty() {
        return fallback::with_errors(&item, errors);
    }
    expand::generate(&input, &args)
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

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
        super::run(args, item).to_string()
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
