# `make demo`'s "what breaks first" chart for one model: one horizontal bar per stress of the
# experiments, its length the model's figure over the best model's in the same run (log scale;
# 1 = as good as the best), the figure itself beside it, and the bar that breaks first in red.
# Called with -e "datafile='breaks.tsv'; outfile='breaks-M.svg'; mode='M'; broken=5".
# The TSV (written by demo.c): mode, stress, value, factor, first, row.
set terminal svg size 760,300 dynamic font "sans,11" background rgb "white"
set output outfile
set datafile separator "\t"
set style fill solid 0.85 noborder
stats datafile every ::1 using (strcol(1) eq mode ? column(5) : 0) nooutput
first = STATS_sum
set logscale x
set xrange [0.8:3000]
set yrange [6.6:0.4]
set grid x
set xlabel "this model's figure over the best model's in the same run (log; 1 = the best)"
unset key
set arrow from broken, graph 0 to broken, graph 1 nohead dt 2 lc rgb "#888888"
set title sprintf("%s: what breaks first%s (dashed: %gx, broken)", mode, \
                  first > 0 ? "" : " - nothing broke here", broken)
set ytics scale 0
mine(c) = strcol(1) eq mode ? column(c) : NaN
plot datafile every ::1 using (mine(4)):6:(0.8):(mine(4)):($6 - 0.35):($6 + 0.35): \
        (column(5) > 0 ? 0xcc3311 : 0x4477aa):ytic(strcol(2)) with boxxyerror lc rgb variable, \
     "" every ::1 using (mine(4) * 1.1):6:(sprintf("%s (%.0fx)", strcol(3), column(4))) \
        with labels left
