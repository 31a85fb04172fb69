//! README's inputs table lists exactly the inputs the program reads, in order,
//! so the documentation cannot drift from `--help` and `action.yml`.

use turso_rotate::inputs::INPUTS;

#[test]
fn readme_inputs_table_matches_the_program() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("### Inputs").nth(1).expect("an Inputs section");
    let section = section.split("\n### ").next().unwrap();
    let names: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let expected: Vec<&str> = INPUTS.iter().map(|i| i.name).collect();
    assert_eq!(names, expected);
}

#[test]
fn readme_gives_the_two_commands_ci_runs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(readme.contains("cargo run --example sandbox"));
    assert!(readme.contains("cargo test --locked") && ci.contains("\ncargo test --locked\n"));
}
