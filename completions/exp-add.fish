complete -c exp-add -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-add -l grid -d 'A grid axis KEY=V1,V2,..., KEY=A..B[:STEP] (inclusive; decimals exact, e.g. lr=0.1..0.5:0.1) or the geometric KEY=A..B:xF (A, A*F, A*F^2... up to B; exact, e.g. C=0.001..1000:x10). Repeatable' -r
complete -c exp-add -s f -l file -d 'JSON Lines of params, one object per line; `-` is stdin' -r -F
complete -c exp-add -l default -d 'Add a default param KEY=VALUE (never change one). Repeatable' -r
complete -c exp-add -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-add -s V -l version -d 'Print version'
