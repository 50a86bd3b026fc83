//! The allocator of the `orgledger` binary (src/main.rs), for the benchmarks that run the
//! library in their own process: what they time is what the binary does.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
