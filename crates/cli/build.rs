//! Links the release `berth` with its startup code together, when asked.
//!
//! `BERTH_STARTUP_ORDER` names a file listing, one mangled name a line, the functions
//! `berth serve` runs from start until it idles; `scripts/build-release` writes it by running
//! a first build of the same source under callgrind (`scripts/startup-order`), then builds again
//! with it. LLD, rustc's linker on x86_64 Linux, places those functions next to each other, so
//! the pages a new server touches are few: the kernel maps file pages in 64 KiB blocks around
//! each fault, and startup code spread over the whole text kept most of it resident (idle RSS
//! 14.8 MiB unordered, 8.5 MiB ordered). The names hold only for the source and profile they
//! were read from (ThinLTO renames functions when their module changes), which is why the file
//! is made per build and not kept in the repository. A name the binary lacks is skipped: a stale
//! file costs memory, never correctness. Without the variable the link is the default one.

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_STARTUP_ORDER");
    let Ok(order) = std::env::var("BERTH_STARTUP_ORDER") else { return };
    if order.is_empty() {
        return;
    }
    println!("cargo:rerun-if-changed={order}");
    println!("cargo:rustc-link-arg-bin=berth=-Wl,--symbol-ordering-file={order}");
    println!("cargo:rustc-link-arg-bin=berth=-Wl,--no-warn-symbol-ordering");
}
