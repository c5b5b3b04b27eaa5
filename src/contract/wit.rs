//! The types and bindings wit-bindgen generates from `wit/`, on every target: the guest's logic
//! uses the WIT's records and enums directly (they compile natively, so it stays unit-tested
//! natively), and only [`crate::boundary::glue`] (wasm32) touches the imports and the export.

wit_bindgen::generate!({
    world: "channel-plugin",
    path: "wit",
    generate_all,
    additional_derives: [PartialEq, Eq],
    // Import arguments are lent to the host, so the guest does not copy a request to send it.
    ownership: Borrowing { duplicate_if_necessary: false },
    pub_export_macro: true,
    export_macro_name: "export_channel_plugin",
});

pub use exports::moltbot::channel::channel as types;
