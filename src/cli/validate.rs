//! `imsight validate`: load every layer, report every problem, exit non-zero on any.

use clap::Args;

use super::{CommandError, GlobalArgs};
use crate::config::Config;

/// Options of `imsight validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Also print the effective configuration as TOML (secrets masked).
    #[arg(long)]
    pub show: bool,
}

/// Runs `imsight validate`.
pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> Result<(), CommandError> {
    let loaded = global.load_config()?;
    let file = loaded.file.as_ref().map_or_else(|| "none".to_owned(), |f| f.display().to_string());
    let env = if loaded.env_overrides.is_empty() {
        "none".to_owned()
    } else {
        loaded.env_overrides.join(", ")
    };
    println!(
        "configuration valid: profile {}, site file {file}, environment {env}",
        loaded.profile
    );
    if args.show {
        println!("{}", effective_toml(&loaded.config)?);
    }
    Ok(())
}

fn effective_toml(config: &Config) -> Result<String, CommandError> {
    let mut shown = config.clone();
    if shown.mqtt.password.is_some() {
        shown.mqtt.password = Some("********".to_owned());
    }
    toml::to_string(&shown).map_err(CommandError::failed)
}
