complete -c exp-add -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-add -l grid -d 'A grid axis KEY=V1,V2,..., KEY=A..B[:STEP] (inclusive; decimals exact, e.g. lr=0.1..0.5:0.1) or the geometric KEY=A..B:xF (A, A*F, A*F^2... up to B; exact, e.g. C=0.001..1000:x10). Repeatable' -r
complete -c exp-add -s f -l file -d 'JSON Lines of params, one object per line; `-` is stdin' -r -F
complete -c exp-add -l default -d 'Add a default param KEY=VALUE (never change one). Repeatable' -r
complete -c exp-add -l sample -d 'Draw N configs from the --dist distributions (1 to 10 million), the same N for every grid point and line' -r
complete -c exp-add -l dist -d 'A key to draw and its distribution, one of: uniform(A,B); loguniform(A,B), 0 < A < B, uniform in log space; int(A,B), an integer A to B inclusive; logint(A,B), 1 <= A < B, an integer drawn log-uniformly; normal(MU,SIGMA), SIGMA > 0; choice(V1,V2,...), two or more distinct scalars, each trimmed of spaces and read as --grid reads values (JSON where it parses, else a string; commas inside quotes split nothing). A < B always; numbers are decimals (0.1, -3, 1e-5), integers are integers. Repeatable, one per key' -r
complete -c exp-add -l seed -d 'The seed of the draws, 0 to 2^64-1 [default: 0]' -r
complete -c exp-add -l sampler -d 'random: independent draws (ChaCha8); sobol: an Owen-scrambled Sobol sequence, spread more evenly (up to 256 keys) [default: random]' -r -f -a "random\t''
sobol\t''"
complete -c exp-add -l digits -d 'Round drawn floats to D significant digits, then clamp them to their bounds; 0 keeps every digit [default: 4]' -r
complete -c exp-add -l dry-run -d 'Print the lines of what would be added ("name" null where it would be a fresh UUID) and change nothing'
complete -c exp-add -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-add -s V -l version -d 'Print version'
