#!/usr/bin/env bash
# tests/e2e/test_readers.sh — rich formats through the CLI: a directory with
# HTML, PDF, DOCX, ODT, EPUB and CSV files is ingested by extension (and a
# PDF without one by content); each document gets its title, a PDF hit
# names its page in the heading, CSV rows become documents with metadata
# and --text-field/--id-field pick columns; a corrupt PDF and a zip that is
# not a DOCX are reported failed, naming the file, while the rest is stored
# (exit 1: some documents failed);
# --format forces a reader.
source "$(dirname "$0")/lib.sh"

DB="$WORK/db"
IN="$WORK/in"
mkdir -p "$IN"
FIX="$RAGDB_SRC/tests/fixtures/readers"
cp "$FIX/sample.docx" "$FIX/sample.odt" "$FIX/sample.epub" "$FIX/sample.pdf" "$IN/"
cp "$FIX/sample.pdf" "$IN/noext"
cat > "$IN/page.html" <<'HTML'
<!DOCTYPE html><html><head><title>Harbour &amp; Ships</title><script>alert("x")</script></head>
<body><h1>Harbour</h1><h2>Cranes</h2><p>The container cranes lift forty tonnes.</p></body></html>
HTML
printf 'id,text,year\nr1,"Bicycles need oiled chains",2019\nr2,"Kayaks, canoes and paddles",2023\n' > "$IN/rows.csv"
printf '%%PDF-1.4\nthis is not really a PDF\n' > "$IN/broken.pdf"
printf 'PK\003\004 not a zip at all' > "$IN/broken.docx"

ok ragdb init --db "$DB"
expect_rc 1 ragdb ingest --db "$DB" "$IN" --json
printf '%s' "$OUT" | jcheck 'j["added"] == 8 and j["failed"] == 2' "ingest summary"
assert_contains "$ERR" "broken.pdf" "the failure names the file"
assert_contains "$ERR" "not a readable PDF"
assert_contains "$ERR" "broken.docx"

ids=$(list_ids "$DB")
assert_eq "$(echo "$ids" | tr '\n' ' ')" "noext page.html r1 r2 sample.docx sample.epub sample.odt sample.pdf " "ids"
ok ragdb list --db "$DB" --json
printf '%s' "$OUT" | jcheck '{d["id"]: d["title"] for d in j}["page.html"] == "Harbour & Ships"'
printf '%s' "$OUT" | jcheck '{d["id"]: d["title"] for d in j}["noext"] == "Energy Notes"' "PDF sniffed by content"
printf '%s' "$OUT" | jcheck '{d["id"]: d["title"] for d in j}["sample.docx"] == "Turbines 2024"'

ok ragdb search --db "$DB" "wind turbines explained" -k 1 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["heading"] == "Page 2" and j["results"][0]["id"] in ("sample.pdf", "noext")' "PDF page in the heading"
ok ragdb search --db "$DB" "container cranes" -k 1 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["id"] == "page.html" and j["results"][0]["heading"] == "Harbour > Cranes"'
assert_not_contains "$OUT" "alert"
ok ragdb show --db "$DB" r2 --json
printf '%s' "$OUT" | jcheck 'j["metadata"] == {"year": 2023} and "Kayaks" in j["text"]' "CSV row"

# --format forces a reader; CSV columns by name
DB2="$WORK/db2"
ok ragdb init --db "$DB2"
printf 'key;body;when\nk1;Owls hunt at night;2020\n' > "$WORK/semi.txt"
ok ragdb ingest --db "$DB2" "$WORK/semi.txt" --format csv --text-field body --id-field key
ok ragdb show --db "$DB2" k1 --json
printf '%s' "$OUT" | jcheck 'j["text"] == "Owls hunt at night" and j["metadata"] == {"when": 2020}'
expect_rc 1 ragdb ingest --db "$DB2" "$WORK/semi.txt" --format csv --text-field nosuch
assert_contains "$ERR" 'no column named "nosuch"'
expect_rc 2 ragdb ingest --db "$DB2" "$WORK/semi.txt" --format rtf
assert_contains "$ERR" "--format expects"
check_ok "$DB"

# A Markdown table bigger than a chunk: each continuation chunk carries the
# header; show still gives the file's words (gaps are whitespace); check passes.
DB3="$WORK/db3"
ok ragdb init --db "$DB3" --chunk-tokens 64 --overlap 8
python3 - "$WORK/big.md" <<'PY'
import sys
rows = "".join("| part %d | %d grams | bin %d |\n" % (i, i * 7, i % 5) for i in range(80))
open(sys.argv[1], "w").write("# Inventory\n\n| Part | Weight | Bin |\n|---|---|---|\n" + rows + "\nEnd.\n")
PY
ok ragdb ingest --db "$DB3" "$WORK/big.md"
ok ragdb search --db "$DB3" "part 73 511 grams" -k 1 --json
printf '%s' "$OUT" | jcheck 'j["results"][0]["text"].startswith("| Part | Weight | Bin |\n|---|---|---|\n| part") and "| part 73 | 511 grams" in j["results"][0]["text"]' "split table chunk"
ok ragdb show --db "$DB3" big.md --json
printf '%s' "$OUT" | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["text"].split() == open(sys.argv[1]).read().split() else 1)' "$WORK/big.md" || fail "show gives back the table text"
check_ok "$DB3"
note "ok"
