//! The `lmos` command.

fn main() {
    println!("lmos {}", env!("CARGO_PKG_VERSION"));
}
