//! The uniffi-bindgen of this crate's UniFFI version; `kotlin/pom.xml` runs it in library mode
//! on the built `liblmos_kotlin.so`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
