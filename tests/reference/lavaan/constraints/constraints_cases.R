# Nonlinear equality and inequality constraints, lavaan 0.6-14 (issue 14, "what to build" 4).
# Run from this folder: Rscript constraints_cases.R  -> constraints.json
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
hs <- HolzingerSwineford1939
pd <- PoliticalDemocracy
cases <- list(
  hs_nonlinear = list(data = "hs", model = "visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + x5 + x6\na == b^2"),
  hs_ratio = list(data = "hs", model = "visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + c*x5 + d*x6\na/b == c/d"),
  hs_ineq_active = list(data = "hs", model = "visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + x5 + x6\na > 0.7"),
  hs_ineq_inactive = list(data = "hs", model = "visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + x5 + x6\na > 0.2"),
  pd_ineq_two = list(data = "pd", model = "y1 ~ b1*x1 + b2*x2 + b3*x3\nb1 < b2\nb2 < b3"),
  pd_mixed = list(data = "pd", model = "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem60 ~ g*ind60\ng > 0\ng == 1.5*1.5"),
  pd_defined_ineq = list(data = "pd", model = "y1 ~ a*x1 + b*x2\nind := a*b\nind > 0.5")
)
out <- list(lavaan_version = as.character(packageVersion("lavaan")))
for (nm in names(cases)) {
  cs <- cases[[nm]]
  d <- if (cs$data == "hs") hs else pd
  fit <- sem(cs$model, data = d)
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op %in% c("=~", "~", "~~", "~1"), ]
  fm <- fitMeasures(fit, c("npar", "chisq", "df", "cfi", "rmsea", "logl"))
  out[[nm]] <- list(model = cs$model, data = cs$data,
    est = lapply(seq_len(nrow(pe)), function(i) list(lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i],
                                                      est = pe$est[i], se = pe$se[i])),
    fit = as.list(fm), converged = lavInspect(fit, "converged"))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "constraints.json")
