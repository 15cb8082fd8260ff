# Reference values for asymtrust.reliability & co. on HolzingerSwineford1939.
#
# Run from the repository root:   Rscript tests/reference/reliability/hs1939.R
# Writes tests/reference/reliability/hs1939.json (committed; CI never runs R).
#
# Tools: lavaan 0.6-14, semTools 0.5-6, psych 2.2.9, jsonlite, digest (Debian r-cran-*).
# psych masks semTools::reliability(), so every call below is namespaced.
#
# Cases
#   full : the 301 complete rows of datasets/hs1939.csv
#   miss : the same data with ~5% MCAR cells (the HSm mask of lavaan-parity.md:
#          set.seed(1); runif(...) < .05). The 1-based column-major NA indices are
#          written to the JSON so that Python applies the identical mask.
source("tests/reference/reliability/_case.R")

data_file <- Sys.getenv("ASYMTRUST_HS1939", "datasets/hs1939.csv")
out_file  <- "tests/reference/reliability/hs1939.json"

hs <- read.csv(data_file)
items <- paste0("x", 1:9)
constructs <- list(visual = c("x1", "x2", "x3"),
                   textual = c("x4", "x5", "x6"),
                   speed = c("x7", "x8", "x9"))
model <- paste(sprintf("%s =~ %s", names(constructs),
                       sapply(constructs, paste, collapse = " + ")), collapse = "\n")

X <- as.matrix(hs[, items])
set.seed(1)
X[matrix(runif(length(X)) < .05, nrow(X))] <- NA
na_index <- which(is.na(X))          # 1-based, column-major over x1..x9
hs_miss <- hs
hs_miss[, items] <- X

res <- list(
  meta = list(
    script = "tests/reference/reliability/hs1939.R",
    data = "datasets/hs1939.csv",
    data_sha256 = digest::digest(file = data_file, algo = "sha256"),
    R = R.version.string,
    lavaan = as.character(packageVersion("lavaan")),
    semTools = as.character(packageVersion("semTools")),
    psych = as.character(packageVersion("psych")),
    model = model),
  miss_na_index = na_index,
  full = reliability_case(hs, constructs),
  miss = reliability_case(hs_miss, constructs))
writeLines(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out_file)
cat("wrote", out_file, "\n")
