# The example's data files, as a user would have them: plain CSVs written by write.csv().
# Usage (in this directory): Rscript make_data.R
d <- as.data.frame(nlme::Oxboys)
attributes(d$Subject) <- attributes(d$Subject)[c("levels", "class")]
write.csv(d, "oxboys.csv", row.names = FALSE)
write.csv(lme4::Arabidopsis, "arabidopsis.csv", row.names = FALSE)
