//! `cyplam completions bash|zsh|fish`: prints the shell's completion script for cyplam
//! (`cyplam completions bash > /etc/bash_completion.d/cyplam`).

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

impl CompletionsArgs {
    /// Writes the script for `cli`, the root command (given by `cli.rs`, which this module does
    /// not import).
    pub fn run(&self, cli: &mut clap::Command) -> Result<()> {
        // Written whole through the output layer: clap_complete panics on a failed write (a
        // closed pipe), the output layer returns the error.
        let mut script = Vec::new();
        clap_complete::generate(self.shell, cli, "cyplam", &mut script);
        Ok(crate::output::write_out_bytes(&script)?)
    }
}
