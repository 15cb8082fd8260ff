# lavaan reference cases on the PoliticalDemocracy data (Bollen 1989), sem() defaults:
#   pd_sem       lavaan tutorial SEM with residual covariances
#   pd_eq        same with equal loadings across waves (labels a, b, c)
#   pd_indirect  same with labelled paths and `:=` indirect / total effects
# Run from anywhere: Rscript tests/reference/lavaan/pd_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_common.R"))
}
SCRIPT <- "pd_cases.R"

pd_file <- ref_data_path("poldem.csv")
PD <- read.csv(pd_file)
stopifnot(nrow(PD) == 75L)

RESID <- "y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"

PD_MODEL <- paste("ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60", RESID, sep = "\n")

PD_EQ_MODEL <- paste("ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60", RESID, sep = "\n")

PD_IND_MODEL <- paste("ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60", RESID, "ind := a*b
total := c + a*b", sep = "\n")

args <- list(call = list(`function` = "sem"),
             fit_args = list(estimator = "ML", missing = "listwise"))

for (case in list(list("pd_sem", PD_MODEL), list("pd_eq", PD_EQ_MODEL),
                  list("pd_indirect", PD_IND_MODEL))) {
  fit <- sem(case[[2]], data = PD)
  write_case(case_record(case[[1]], fit, case[[2]], pd_file,
                         call = args$call, fit_args = args$fit_args), SCRIPT)
}
