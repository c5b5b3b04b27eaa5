//! `kakaowork-host component`: write the plugin's component file, for another host.

use std::path::Path;

use super::error::CliError;

pub fn run(out: &Path) -> Result<(), CliError> {
    let bytes = host_test::component_bytes();
    std::fs::write(out, bytes).map_err(|source| CliError::Write {
        path: out.to_owned(),
        source,
    })?;
    println!(
        "Wrote {} ({} bytes): world moltbot:channel/channel-plugin@0.6.0",
        out.display(),
        bytes.len()
    );
    Ok(())
}
