//! turso-rotate: rotates a Turso group's auth tokens and writes the new
//! token into GitHub Actions secrets. The modules follow the data:
//! inputs -> Turso client -> GitHub secret writer (with the sealed box) ->
//! workflow commands -> the rotation that ties them together.

pub mod apis;
pub mod exit;
pub mod files;
pub mod http;
pub mod inputs;
pub mod names;
pub mod report;
pub mod run;
pub mod secret;
pub mod stop;
pub mod workflow;

use inputs::{BadInput, Command};
use workflow::Workflow;

/// The whole program: arguments and environment in, exit code out.
pub fn main(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> u8 {
    let wf = Workflow::from_env(env);
    let inputs = match inputs::parse(args, env) {
        Ok(Command::Help) => {
            print!("{}", inputs::help());
            return 0;
        }
        Ok(Command::Version) => {
            println!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Ok(Command::Run(inputs)) => inputs,
        Err(BadInput(message)) => {
            wf.annotate("error", &message);
            return exit::BAD_INPUT;
        }
    };
    if let Err(message) = http::proxy::init(env, &wf) {
        wf.annotate("error", &message);
        return exit::BAD_INPUT;
    }
    match run::run(&inputs, &wf) {
        Ok(code) => code,
        Err(e) => {
            wf.annotate("error", &format!("{e:#}"));
            exit::FAILED
        }
    }
}
