//! Links the release `berth` with its startup code first.
//!
//! `startup-order.txt` lists, one mangled name a line, the functions `berth serve` runs from
//! start until it idles (written by `scripts/startup-order`, which runs the server under
//! callgrind). LLD, rustc's linker on x86_64 Linux, places them next to each other, so the
//! pages a new server touches are few: the kernel maps file pages in 64 KiB blocks around each
//! fault, and startup code spread over the whole text made most of it resident (idle RSS
//! 13.5 MiB against 8.5 MiB with the order). A name the binary no longer has is skipped
//! silently: a stale file costs memory, never correctness. Only release builds of x86_64 Linux
//! use it, and `BERTH_NO_STARTUP_ORDER=1` turns it off (for another linker).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=startup-order.txt");
    println!("cargo:rerun-if-env-changed=BERTH_NO_STARTUP_ORDER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let wanted = var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("BERTH_NO_STARTUP_ORDER") != "1";
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("startup-order.txt");
    if wanted && order.is_file() {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bin=berth=-Wl,--no-warn-symbol-ordering");
    }
}
