use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic message could quote a value; print it scrubbed of secrets.
    std::panic::set_hook(Box::new(|info| {
        turso_rotate::workflow::log(&format!("internal error: {info}"));
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(turso_rotate::main(&args, &|name| std::env::var(name).ok()))
}
