# Reference for compare() on WLSMV fits (issue 15): lavaan 0.6-14, psych's bfi, 25 ordered items,
# listwise; the 5-factor CFA against the same CFA with orthogonal factors (10 covariances fixed at 0),
# lavTestLRT's default for scaled-and-shifted tests (method = "satorra.2000").
# Run: Rscript tests/reference/ordinal_analysis/bfi_compare.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "..", "ordinal", "bfi.csv"))
items <- names(d)
model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
orth <- paste(model, "A ~~ 0*C + 0*E + 0*N + 0*O", "C ~~ 0*E + 0*N + 0*O", "E ~~ 0*N + 0*O", "N ~~ 0*O", sep = "\n")
f1 <- cfa(model, data = d, ordered = items)
f0 <- cfa(orth, data = d, ordered = items)
t <- lavTestLRT(f1, f0)
keep <- c("npar", "chisq", "df", "chisq.scaled", "df.scaled", "chisq.scaling.factor", "cfi.scaled", "rmsea.scaled")
writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, orthogonal = orth,
                       nobs = lavInspect(f1, "nobs"),
                       fit = list(oblique = as.list(fitMeasures(f1)[keep]), orthogonal = as.list(fitMeasures(f0)[keep])),
                       lrt = list(chisq_diff = t[2, "Chisq diff"], df_diff = t[2, "Df diff"], p = t[2, "Pr(>Chisq)"])),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "bfi_compare_lrt.json"))
