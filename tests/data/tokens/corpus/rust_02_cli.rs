use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Default)]
struct Options {
    pattern: String,
    files: Vec<PathBuf>,
    ignore_case: bool,
    line_numbers: bool,
    count_only: bool,
}

#[derive(Debug)]
enum CliError {
    Usage(String),
    Io { path: PathBuf, source: io::Error },
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(msg) => write!(f, "usage error: {msg}"),
            CliError::Io { path, source } => write!(f, "{}: {}", path.display(), source),
        }
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, CliError> {
    let mut opts = Options::default();
    let mut positional = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-i" | "--ignore-case" => opts.ignore_case = true,
            "-n" | "--line-number" => opts.line_numbers = true,
            "-c" | "--count" => opts.count_only = true,
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(CliError::Usage(format!("unknown flag {s}")));
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    opts.pattern = positional
        .next()
        .ok_or_else(|| CliError::Usage("missing PATTERN".into()))?;
    opts.files = positional.map(PathBuf::from).collect();
    if opts.ignore_case {
        opts.pattern = opts.pattern.to_lowercase();
    }
    Ok(opts)
}

fn search<R: BufRead>(reader: R, label: Option<&str>, opts: &Options, out: &mut impl Write) -> io::Result<usize> {
    let mut matches = 0;
    for (number, line) in reader.lines().enumerate() {
        let line = line?;
        let haystack = if opts.ignore_case { line.to_lowercase() } else { line.clone() };
        if !haystack.contains(&opts.pattern) {
            continue;
        }
        matches += 1;
        if opts.count_only {
            continue;
        }
        if let Some(label) = label {
            write!(out, "{label}:")?;
        }
        if opts.line_numbers {
            write!(out, "{}:", number + 1)?;
        }
        writeln!(out, "{line}")?;
    }
    Ok(matches)
}

fn run(opts: &Options) -> Result<usize, CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if opts.files.is_empty() {
        let stdin = io::stdin();
        return search(stdin.lock(), None, opts, &mut out)
            .map_err(|source| CliError::Io { path: "<stdin>".into(), source });
    }
    let show_names = opts.files.len() > 1;
    let mut total = 0;
    for path in &opts.files {
        let file = File::open(path).map_err(|source| CliError::Io { path: path.clone(), source })?;
        let label = show_names.then(|| path.to_string_lossy().into_owned());
        let n = search(BufReader::new(file), label.as_deref(), opts, &mut out)
            .map_err(|source| CliError::Io { path: path.clone(), source })?;
        if opts.count_only {
            let _ = writeln!(out, "{}{n}", label.map(|l| format!("{l}:")).unwrap_or_default());
        }
        total += n;
    }
    Ok(total)
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(0) => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(2)
        }
    }
}
