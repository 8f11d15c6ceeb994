complete -c exp-summary -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-summary -s o -l output -d 'Write to FILE (atomically) instead of stdout' -r -F
complete -c exp-summary -l over -d 'Group the done configs by every param but KEY (comma-separated or repeated; model.seed names a nested one): one row per group, with n and the stats of each numeric result field. A KEY no config has is exit 2' -r -f
complete -c exp-summary -l stats -d 'With --over: the stats of each field, as columns FIELD.STAT in this order [default: mean,std]. n is the count of configs that have the field as a number; median of an even count is the mean of the two middle values; sem is std/sqrt(n)' -r -f -a "mean\t''
std\t''
n\t''
min\t''
max\t''
median\t''
sem\t''"
complete -c exp-summary -l html -d 'Write one self-contained HTML page to FILE (atomically; - for stdout): the counts, the results table (sortable), each numeric result plotted against each param that varies (with --over, the groups\' mean and spread), the learning curves and the failures. Configs that are not done are shown, never refused' -r -F
complete -c exp-summary -l ignore-missing -d 'Summarise configs that are not done too, with a status column'
complete -c exp-summary -l timing -d 'Add a duration column, in seconds'
complete -c exp-summary -l json -d 'JSON Lines instead of CSV: {"name","params","result"} (unflattened)'
complete -c exp-summary -l save -d 'Write results_summary.csv in the experiment (atomically) instead of stdout. One DIR only'
complete -c exp-summary -l raw -d 'Write text cells as they are. By default a text cell that a spreadsheet would run as a formula (starting with =, +, -, @, TAB or CR; numbers never) gets a leading \', in CSV and results_summary.csv'
complete -c exp-summary -l metrics -d 'The curves in long form: one row per line of each config\'s latest metrics.jsonl ($EXP_METRICS): name, the params, attempt, then the metrics fields (--json: {"name","params","attempt","metrics"}). Configs of any status; a partial last line is skipped'
complete -c exp-summary -l provenance -d 'Add the columns git.commit, git.dirty and host, from each config\'s latest provenance.json (empty when it has none); --json: its whole provenance.json as "provenance"'
complete -c exp-summary -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-summary -s V -l version -d 'Print version'
