# Reference values for asymtrust.reliability & co.: the ten Fig. 1 constructs
# (specs/fig1.lav, its =~ lines) on the synthetic survey datasets/bcf_synthetic.csv.
#
# Run from the repository root:   Rscript tests/reference/reliability/bcf_fig1.R
# Writes tests/reference/reliability/bcf_fig1.json (committed; CI never runs R).
#
# The reverse-keyed items rol3, cul3, ctr4, gtr4, jmp3 (datasets/codebook.csv,
# reverse = 1) are recoded 8 - x first, as asymtrust does from the codebook.
source("tests/reference/reliability/_case.R")

data_file <- "datasets/bcf_synthetic.csv"
spec_file <- "specs/fig1.lav"
out_file  <- "tests/reference/reliability/bcf_fig1.json"

d <- read.csv(data_file)
cb <- read.csv("datasets/codebook.csv", stringsAsFactors = FALSE)
reverse <- cb$item[cb$kind == "item" & cb$reverse == 1]
stopifnot(setequal(reverse, c("rol3", "cul3", "ctr4", "gtr4", "jmp3")))
for (v in reverse) d[[v]] <- 8 - d[[v]]

spec <- readLines(spec_file)
pt <- lavaan::lavaanify(paste(grep("=~", spec, value = TRUE), collapse = "\n"))
pt <- pt[pt$op == "=~", ]
constructs <- lapply(setNames(unique(pt$lhs), unique(pt$lhs)), function(f) pt$rhs[pt$lhs == f])

res <- list(
  meta = list(
    script = "tests/reference/reliability/bcf_fig1.R",
    data = data_file,
    data_sha256 = digest::digest(file = data_file, algo = "sha256"),
    spec = spec_file,
    spec_sha256 = digest::digest(file = spec_file, algo = "sha256"),
    reverse_recoded = reverse,
    R = R.version.string,
    lavaan = as.character(packageVersion("lavaan")),
    semTools = as.character(packageVersion("semTools")),
    psych = as.character(packageVersion("psych")),
    n_rows = nrow(d),
    constructs = constructs),
  fig1 = reliability_case(d, constructs, scale = c(1, 7)))
writeLines(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out_file)
cat("wrote", out_file, "\n")
