//! The cargo-feature guards fire: a tiny fixture crate is `cargo check`ed
//! against this crate with chosen features, and must fail (or pass) with the
//! expected message. A control build with valid features proves the fixture
//! itself compiles, so a failure is the guard's doing.
//!
//! Runs `cargo check --offline` (dependencies come from the lock file of this
//! repository); the fixture builds into `target/feature-fixtures`.

use std::path::{Path, PathBuf};
use std::process::Command;

const STATE: &str = r#"
use laminar_core::state::state_store;
#[state_store]
pub struct S {
    #[state(key = u64)]
    pub counts: u64,
}
"#;

/// `RUSTFLAGS` choosing BTree as the default backend (fixtures that use it
/// build into their own target directory, since flags change every artifact).
const CHOOSE_BTREE: &str = "--cfg laminar_default_backend=\"btree\"";

fn check(name: &str, features: &[&str], src: &str) -> (bool, String) {
    check_with(name, features, src, None)
}

fn check_with(name: &str, features: &[&str], src: &str, rustflags: Option<&str>) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join("feature-fixtures").join(name);
    std::fs::create_dir_all(dir.join("src")).expect("create fixture dir");
    let manifest = format!(
        "[package]\nname = \"fixture-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\nlaminar-core = {{ path = {path:?}, default-features = false, features = {features:?} }}\n",
        path = root.display().to_string(),
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write manifest");
    std::fs::write(dir.join("src/lib.rs"), src).expect("write lib.rs");
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy lock file");
    let target: PathBuf =
        root.join("target")
            .join("feature-fixtures")
            .join(if rustflags.is_some() {
                "target-cfg"
            } else {
                "target"
            });
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["check", "--offline", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    match rustflags {
        Some(flags) => cmd.env("RUSTFLAGS", flags),
        None => cmd.env_remove("RUSTFLAGS"),
    };
    let out = cmd.output().expect("run cargo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn feature_guards_fire() {
    // Precedence without a choice: AHash when both hash and btree are on.
    let (ok, err) = check(
        "precedence",
        &["macros", "btree", "ahash"],
        &format!("{STATE}\npub fn d() -> laminar_core::state::typed::DefaultBackend {{ laminar_core::state::typed::AHash }}\n"),
    );
    assert!(ok, "AHash must be the default when both are on:\n{err}");

    // Control for the guard: choosing BTree with its feature on compiles,
    // overrides the precedence, and gives the macro's struct ordered scans.
    let (ok, err) = check_with(
        "choice",
        &["macros", "btree", "ahash"],
        &format!("{STATE}\npub fn b(s: &S) -> usize {{ s.counts().range(0, 10).count() }}\npub fn d() -> laminar_core::state::typed::DefaultBackend {{ laminar_core::state::typed::BTree }}\n"),
        Some(CHOOSE_BTREE),
    );
    assert!(ok, "choosing an enabled backend must compile:\n{err}");

    // The guard: choosing BTree while the `btree` feature is off is a
    // compile_error! naming the feature.
    let (ok, err) = check_with("conflict", &["macros", "ahash"], STATE, Some(CHOOSE_BTREE));
    assert!(
        !ok,
        "a default backend whose feature is off must not compile"
    );
    assert!(
        err.contains("the cargo feature `btree` of laminar-core is off"),
        "guard message missing:\n{err}"
    );

    // Naming a backend whose feature is off: the macro names the feature.
    let (ok, err) = check(
        "backend-off",
        &["macros", "btree"],
        "use laminar_core::state::state_store;\n#[state_store(backend = AHash)]\npub struct S { #[state(key = u64)] pub c: u64 }\n",
    );
    assert!(!ok, "a disabled backend must not compile");
    assert!(
        err.contains("needs the cargo feature `ahash`"),
        "feature not named:\n{err}"
    );

    // Same for `Mmap` without the `mmap` feature.
    let (ok, err) = check(
        "mmap-off",
        &["macros", "btree"],
        "use laminar_core::state::state_store;\n#[state_store(backend = Mmap)]\npub struct S { #[state(key = u64)] pub c: u64 }\n",
    );
    assert!(!ok, "Mmap without its feature must not compile");
    assert!(
        err.contains("needs the cargo feature `mmap`"),
        "feature not named:\n{err}"
    );

    // Only `mmap`: naming it compiles (with `open`/`flush`) ...
    let (ok, err) = check(
        "mmap-only",
        &["macros", "mmap"],
        "use laminar_core::state::state_store;\n#[state_store(backend = Mmap)]\npub struct S { #[state(key = u64)] pub c: u64 }\npub fn o(p: &std::path::Path) -> laminar_core::state::Result<()> { let mut s = S::open(p)?; s.c_mut().put(1, 2)?; s.flush() }\n",
    );
    assert!(
        ok,
        "backend = Mmap with the mmap feature must compile:\n{err}"
    );
    // ... but it is never the default: a struct naming none is told so.
    let (ok, err) = check("mmap-no-default", &["macros", "mmap"], STATE);
    assert!(!ok);
    assert!(
        err.contains("`#[state_store(backend = Mmap)]`"),
        "message missing:\n{err}"
    );

    // No backend at all: a struct that names none is an error naming the features.
    let (ok, err) = check("no-backend", &["macros"], STATE);
    assert!(!ok);
    assert!(
        err.contains("enable the cargo feature `btree` or `ahash`"),
        "message missing:\n{err}"
    );
}
