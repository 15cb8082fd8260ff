# Reference for the ordinal invariance ladder under Wu & Estabrook's (2016) identification
# (issue 15): semTools 0.5-6 measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016"),
# fitted with lavaan 0.6-14, psych's bfi (15 items of A, C, N; listwise), by gender, WLSMV,
# delta and theta parameterizations; per level the syntax semTools writes, its parameter
# estimates and SEs, fitMeasures, and lavTestLRT of adjacent levels and of configural vs scalar
# (lavaan's default for scaled-and-shifted tests: method = "satorra.2000").
#   bfi_wu_estabrook_delta.json, bfi_wu_estabrook_theta.json
# Run: Rscript tests/reference/ordinal_analysis/bfi_wu_estabrook.R
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite); library(psych)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "..", "ordinal", "bfi.csv"))
data(bfi, package = "psych")
d$gender <- bfi$gender
model <- paste("A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "N =~ N1 + N2 + N3 + N4 + N5",
               sep = "\n")
items <- c(paste0("A", 1:5), paste0("C", 1:5), paste0("N", 1:5))
d <- d[c(items, "gender")]
levels <- list(configural = "", thresholds = "thresholds", metric = c("thresholds", "loadings"),
               scalar = c("thresholds", "loadings", "intercepts"))
keep <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
          "cfi.scaled", "tli.scaled", "rmsea.scaled", "cfi.robust", "rmsea.robust", "srmr")
for (p in c("delta", "theta")) {
  syn <- lapply(levels, function(eq)
    measEq.syntax(model, data = d, ordered = items, parameterization = p, ID.fac = "std.lv",
                  ID.cat = "Wu.Estabrook.2016", group = "gender", group.equal = eq))
  fits <- lapply(syn, function(s) cfa(as.character(s), data = d, ordered = items, group = "gender",
                                      parameterization = p))
  est <- lapply(fits, function(x) {
    pe <- parameterEstimates(x)
    pe <- pe[pe$op %in% c("=~", "|", "~1", "~~", "~*~"), ]
    list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est, se = pe$se)
  })
  lrt <- list()
  pairs <- list(c(1, 2), c(2, 3), c(3, 4), c(1, 4))
  for (k in seq_along(pairs)) {
    a <- pairs[[k]][1]; b <- pairs[[k]][2]
    t <- lavTestLRT(fits[[a]], fits[[b]])
    lrt[[k]] <- list(general = names(levels)[a], restricted = names(levels)[b], chisq_diff = t[2, "Chisq diff"],
                     df_diff = t[2, "Df diff"], p = t[2, "Pr(>Chisq)"], method = attr(t, "heading"))
  }
  writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")),
                         semTools = as.character(packageVersion("semTools")), model = model, items = items,
                         group = "gender", parameterization = p, group_labels = lavInspect(fits[[1]], "group.label"),
                         nobs = unlist(lavInspect(fits[[1]], "nobs")),
                         levels = lapply(levels, function(x) if (nzchar(x[1])) x else list()),
                         syntax = lapply(syn, as.character),
                         converged = lapply(fits, lavInspect, what = "converged"),
                         fit = lapply(fits, function(x) as.list(fitMeasures(x)[keep])), estimates = est, lrt = lrt),
                    digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
             file.path(OUT, paste0("bfi_wu_estabrook_", p, ".json")))
}
