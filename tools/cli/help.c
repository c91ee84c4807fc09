/*
 * tools/cli/help.c — the command table with every command's usage text,
 * `ragdb help [COMMAND]` and the top-level usage. Kept in one place so the
 * help texts read consistently; docs/cli.md is the longer reference.
 */
#include <string.h>

#include "cli.h"

static const char usage_init[] =
	"usage: ragdb init [--db DIR] [--embedder NAME] [--dim N]\n"
	"                  [--chunk-tokens N] [--overlap N] [--quantize MODE]\n"
	"\n"
	"Create a new, empty knowledge base in DIR.\n"
	"\n"
	"  --db DIR          knowledge base directory (default $RAGDB_DB, else ./.ragdb)\n"
	"  --embedder NAME   embedder: local (default, built in, no network), or\n"
	"                    provider:model (openai:, ollama:, huggingface:, gemini:)\n"
	"                    or a model named in ragdb.json (see docs/providers.md),\n"
	"                    or external: vectors you bring (needs --dim; see\n"
	"                    import-vectors, ingest --embedding-field, search --vectors)\n"
	"  --dim N           vector dimension (default: the embedder's, or the size\n"
	"                    of a remote model's first answer)\n"
	"  --endpoint URL    a remote embedder's endpoint (e.g. a TEI server)\n"
	"  --config FILE     provider configuration (default DIR/ragdb.json)\n"
	"  --chunk-tokens N  default chunk size in tokens\n"
	"  --overlap N       default overlap in tokens between chunks (0 = none)\n"
	"  --language L      full-text stemming language: english (default), german,\n"
	"                    french, ... (Snowball names), or none\n"
	"  --quantize MODE   f32 (default), bf16, int8 or binary: also keep the vectors\n"
	"                    in that form, scan it and rescore exactly (see quantize)\n"
	"  --json            print the new knowledge base's settings as JSON\n"
	"  -h, --help        show this help\n";

static const char usage_ingest[] =
	"usage: ragdb ingest PATH... [options]\n"
	"\n"
	"Add files and directories to the knowledge base. Unchanged files are\n"
	"skipped without re-embedding; changed ones are replaced. Safe to stop\n"
	"with Ctrl-C: run the same command again to continue.\n"
	"\n"
	"  --glob PAT         only files matching PAT (relative path; ** allowed); repeatable\n"
	"  --exclude PAT      skip files or directories matching PAT; repeatable\n"
	"  --format F         auto (default: by extension and content), text, markdown,\n"
	"                     code, jsonl, html, pdf, docx, odt, epub or csv\n"
	"  --id-field F       JSONL/CSV: field holding the record id (default id, then\n"
	"                     _id; CSV without one: FILE:ROW)\n"
	"  --text-field F     JSONL/CSV: field holding the text (default text; CSV\n"
	"                     without one: every column as 'name: value' lines)\n"
	"  --title-field F    JSONL/CSV: field holding the title (default title)\n"
	"  --chunk-tokens N   chunk size in tokens (default: the knowledge base's)\n"
	"  --overlap N        overlap in tokens (0 = none; default: the knowledge base's)\n"
	"  --sync             remove documents under PATHs whose files are gone\n"
	"  --skip-bad-records JSONL/CSV: report malformed records and keep going\n"
	"  --threads N        chunking/embedding threads (default: number of cores)\n"
	"  --meta KEY=VALUE   set a metadata field on every document; repeatable\n"
	"  --embedding-field F  JSONL records bring their vector in field F: each\n"
	"                     record is stored as one chunk with that vector (no\n"
	"                     embedder call); other fields are metadata\n"
	"  -j, --jobs N       documents embedded at once (1..64); with a remote\n"
	"                     embedder, requests in flight\n"
	"  --json             print the summary as JSON on stdout\n"
	"  --embedder NAME    refuse to run unless the knowledge base uses this embedder\n"
	"  -q, --quiet        no progress line, no summary, no warnings or skips\n"
	"  --db DIR           knowledge base directory\n"
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 done (some files may have been skipped), 1 an error or a\n"
	"document that failed, 130 interrupted.\n";

static const char usage_search[] =
	"usage: ragdb search \"QUERY\" [-k N] [--json]\n"
	"       ragdb search --batch FILE [-k N] [--no-text]\n"
	"       ragdb search --vectors Q.fvecs|Q.fbin [-k N] [--no-text]\n"
	"\n"
	"Find the chunks that best match QUERY.\n"
	"\n"
	"  -k N            number of results (default 10)\n"
	"  --mode M        hybrid (default: BM25 and vectors fused), bm25 or vector\n"
	"  --filter EXPR   source:GLOB, id:GLOB or KEY OP VALUE on metadata (OP one of\n"
	"                  = != < <= > >=, e.g. 'year>=2020'); repeatable, all must hold\n"
	"  --mmr LAMBDA    diversify by maximal marginal relevance, LAMBDA in (0,1]\n"
	"  --expand, --no-expand  BM25 query expansion (default: on in hybrid only)\n"
	"  --bm25-k1 X, --bm25-b X  BM25 parameters (default 1.2 and 0.75)\n"
	"  --json          print {\"query\",\"took_ms\",\"results\":[...]} (see docs/cli.md)\n"
	"  --embedder NAME refuse to run unless the knowledge base uses this embedder\n"
	"  --batch FILE    JSONL queries, one {\"_id\":...,\"text\":...} per line (\"id\" and\n"
	"                  \"query\" are accepted too); FILE - reads stdin. Writes one\n"
	"                  {\"query_id\":...,\"results\":[...]} line per query, in order\n"
	"  --no-text       with --batch: leave the chunk text out of the results\n"
	"  --threads N     scan threads (default: number of cores)\n"
	"  --vectors FILE  query vectors (.fvecs or .fbin): one JSON line per vector,\n"
	"                  {\"query_id\":ROW,\"took_ms\",\"results\":[...]}\n"
	"  --oversample N  quantized knowledge bases: candidates per result rescored\n"
	"                  exactly (default bf16 2, int8 4, binary 64)\n"
	"  --nprobe N      IVF index: scan the N lists nearest to the query (default:\n"
	"                  the index's tuned nprobe from 50,000 vectors on, else exact)\n"
	"  --exact         ignore the IVF index: exact scan\n"
	"  --db DIR        knowledge base directory\n"
	"  -h, --help      show this help\n";

static const char usage_query[] =
	"usage: ragdb query \"QUESTION\" [-k N] [--model PROVIDER:MODEL] [--agentic] [--no-stream] [--json]\n"
	"       rag-query \"QUESTION\" [-k N] [--model PROVIDER:MODEL] [--json]\n"
	"\n"
	"Answer QUESTION from the knowledge base, with numbered sources.\n"
	"\n"
	"  --model M            answer with a language model: anthropic:MODEL,\n"
	"                       openai:MODEL, ollama:MODEL, gemini:MODEL, or a name\n"
	"                       from ragdb.json (default: its default_model, else the\n"
	"                       built-in extractive answerer; see docs/providers.md)\n"
	"  --agentic            let the language model search the knowledge base again\n"
	"                       (a search_knowledge_base tool) before it answers, for\n"
	"                       questions that need more than one lookup; each search\n"
	"                       is shown on stderr. Needs a language model (not the\n"
	"                       extractive answerer); docs/providers.md\n"
	"  --max-tool-calls N   with --agentic: searches allowed, 1-16 (default 4)\n"
	"  --no-stream          wait for the whole answer instead of streaming it\n"
	"  --no-cache           ask the language model even if the answer cache\n"
	"                       (ragdb.json \"cache\") holds this exact request\n"
	"  --compare M1,M2,...  ask several models (names, provider:model, extractive)\n"
	"                       the same question with the same sources; one section\n"
	"                       per model (latency, tokens, cost, answer), sources once;\n"
	"                       --json: an array, one object per model; exit 1 if any\n"
	"                       model failed (the others still print)\n"
	"  --conversation ID    ask within stored conversation ID (created when new):\n"
	"                       a follow-up is rewritten from its earlier turns, and\n"
	"                       the question and answer are added to it\n"
	"  --config FILE        provider configuration (default DIR/ragdb.json)\n"
	"  -k N                 chunks to retrieve (default 5)\n"
	"  --mode M             retrieval: hybrid (default), bm25 or vector\n"
	"  --filter EXPR        as for search; repeatable\n"
	"  --mmr LAMBDA         diversify the retrieved chunks, LAMBDA in (0,1]\n"
	"  --context-tokens N   token budget for the context (default 2000)\n"
	"  --max-sentences N    extractive answers: sentences to quote (default 3)\n"
	"  --json               print the answer and sources as JSON (see docs/cli.md)\n"
	"  --embedder NAME      refuse to run unless the knowledge base uses this embedder\n"
	"  --db DIR             knowledge base directory\n"
	"  -h, --help           show this help\n";

static const char usage_serve[] =
	"usage: ragdb serve [--db DIR] [--listen ADDR:PORT] [--threads N] [--config FILE]\n"
	"                   [--read-only] [--access-log]\n"
	"\n"
	"Serve the knowledge base over HTTP: a web page at /, ragdb's JSON API\n"
	"(/v1/search, /v1/query, /v1/documents), OpenAI-compatible endpoints\n"
	"(/v1/embeddings, /v1/chat/completions, /v1/models), /health, /ready,\n"
	"/metrics and /openapi.json. See docs/api.md. Stops on Ctrl-C or SIGTERM\n"
	"after in-flight requests finish.\n"
	"\n"
	"  --listen ADDR:PORT  address to listen on (default 127.0.0.1:8080; port 0 =\n"
	"                      any free port). Any address but loopback needs API keys\n"
	"  --threads N         HTTP worker threads (default: 8 per core, 16..128)\n"
	"  --config FILE       settings file (default DIR/ragdb.json if present): its\n"
	"                      \"server\" section sets listen, api_keys, cors_origins,\n"
	"                      limits; its \"models\" are the answerers requests may name\n"
	"  --read-only         open the knowledge base read-only: no uploads or deletes\n"
	"  --access-log        one line per request on stderr (errors are always logged)\n"
	"  --db DIR            knowledge base directory\n"
	"  -h, --help          show this help\n"
	"\n"
	"Environment: RAGDB_API_KEYS=\"KEY1,ro:KEY2\" sets the API keys (ro: = read-only:\n"
	"may search and ask, not add or delete); clients send Authorization: Bearer KEY.\n";

static const char usage_list[] =
	"usage: ragdb list [--json]\n"
	"\n"
	"List the stored documents in id order: id, chunks, size, title.\n"
	"\n"
	"  --json      a JSON array of documents (see docs/cli.md)\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_show[] =
	"usage: ragdb show ID [--json]\n"
	"\n"
	"Print one document's metadata, then its text.\n"
	"\n"
	"  --json      the document as a JSON object, text included\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_delete[] =
	"usage: ragdb delete ID...\n"
	"       ragdb delete --source PATH\n"
	"\n"
	"Delete documents by id, or every document whose source is PATH or lies\n"
	"under the directory PATH. Exit status 1 if any id was not found (the\n"
	"others are still deleted).\n"
	"\n"
	"  --source PATH  delete by source file or directory; repeatable\n"
	"  --json         print {\"deleted\":[ids],\"not_found\":[ids],\"deleted_by_source\":N}\n"
	"  --db DIR       knowledge base directory\n"
	"  -h, --help     show this help\n";

static const char usage_stats[] =
	"usage: ragdb stats [--models] [--json]\n"
	"\n"
	"Show the knowledge base's settings and sizes.\n"
	"\n"
	"  --models    per language model and remote embedder instead: requests,\n"
	"              errors by kind, latency, tokens, cost, answer-cache hits,\n"
	"              summed over the commands and servers run on DIR\n"
	"              (DIR/model-stats.json; see docs/providers.md)\n"
	"  --json      as a JSON object (see docs/cli.md)\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_check[] =
	"usage: ragdb check [--repair] [--json]\n"
	"\n"
	"Verify every invariant of the store; print each problem found.\n"
	"Exit status 0 when all hold, 1 when there are problems.\n"
	"\n"
	"  --repair    first fix what is safe to fix (meta counters that disagree\n"
	"              with the stored records), printing each repair; what is\n"
	"              left has no safe repair: restore a backup\n"
	"  --json      {\"ok\",\"documents\",\"chunks\",\"problems\":[...]}\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_compact[] =
	"usage: ragdb compact [--json]\n"
	"\n"
	"Rewrite the vector blocks (and an IVF index's lists) without the tombstones\n"
	"left by deletes and replacements; the pages freed are reused by later\n"
	"writes. It works in steps of about 256 MiB, each leaving a valid knowledge\n"
	"base: Ctrl-C or a crash keeps the steps done; run it again to finish.\n"
	"\n"
	"  --json      {\"freed_bytes\":N}\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_import_vectors[] =
	"usage: ragdb import-vectors FILE [--ids FILE] [--source S] [--batch-size N] [--json]\n"
	"\n"
	"Store the vectors of FILE (.fvecs: rows of int32 d then d float32; .fbin:\n"
	"int32 n, int32 d, then n x d float32), each as a document with empty text,\n"
	"L2-normalised. The dimension must be the knowledge base's.\n"
	"\n"
	"  --ids FILE        document ids, one per line (default: the row numbers)\n"
	"  --source S        source recorded for each (default: FILE)\n"
	"  --batch-size N    vectors per write transaction (default 10000)\n"
	"  --json            {\"imported\",\"dim\",\"took_ms\"}\n"
	"  --db DIR          knowledge base directory\n"
	"  -h, --help        show this help\n";

static const char usage_index[] =
	"usage: ragdb index build --ivf NLIST [--recall-target R] [--sample N] [--iters N]\n"
	"                         [--threads N] [--json]\n"
	"       ragdb index stats [--json]\n"
	"       ragdb index drop [--json]\n"
	"\n"
	"An inverted-file (IVF) index: k-means centroids and, per centroid, a list of\n"
	"the vectors nearest to it. A search scans only the lists nearest to the\n"
	"query (--nprobe), with exact scores. A rebuild replaces the old index when\n"
	"it finishes (searches use the old one until then; an interrupted or failed\n"
	"build leaves it as it was); later ingests go to their nearest list, deletes\n"
	"leave the lists; `ragdb tune` drops it. Searches use it from 50,000 vectors\n"
	"on (exact below, unless --nprobe is given). See docs/search.md, \"IVF index\".\n"
	"\n"
	"  --ivf NLIST         lists (about sqrt(vectors) to 4 x sqrt(vectors))\n"
	"  --recall-target R   default nprobe = the smallest reaching recall@10 >= R\n"
	"                      on held-out stored vectors; R in (0,1], default 0.95\n"
	"  --sample N          k-means training vectors (default max(NLIST x 64, 50000))\n"
	"  --iters N           k-means iterations (default 10)\n"
	"  --json              {\"nlist\",\"nprobe\",\"vectors\",\"list_min\",\"list_median\",\n"
	"                      \"list_max\",\"imbalance\",\"bytes\",\"recall\",...}\n";

static const char usage_quantize[] =
	"usage: ragdb quantize MODE [--json]\n"
	"\n"
	"Set the quantized blocks to MODE: f32 (none), bf16, int8 or binary (an IVF\n"
	"index's lists are re-encoded with them; between two quantized modes the\n"
	"conversion goes through f32; Ctrl-C or a crash leaves the previous mode, or\n"
	"f32 in between). Searches scan them, then rescore the best\n"
	"k x oversample candidates from the f32 vectors (always kept), so scores are\n"
	"exact.\n"
	"\n"
	"  --json      {\"before\",\"quantize\",\"took_ms\"}\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_backup[] =
	"usage: ragdb backup DIR [--json]\n"
	"\n"
	"Copy the knowledge base into DIR (new or empty) while searches and an\n"
	"ingest go on: one consistent snapshot, compacted. DIR then is a knowledge\n"
	"base; put it back with `ragdb restore DIR`.\n"
	"\n"
	"  --json      {\"backup\",\"bytes\"}\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_restore[] =
	"usage: ragdb restore BACKUP [--force] [--json]\n"
	"\n"
	"Put the backup in BACKUP in place at the knowledge base directory (--db),\n"
	"which must be absent or empty, or hold a knowledge base with --force. The\n"
	"backup and the copy are checked first; the copy is swapped in with one\n"
	"rename, so the directory never holds a half-restored knowledge base.\n"
	"Refused while another process has the knowledge base open.\n"
	"\n"
	"  --force     replace the knowledge base that is there\n"
	"  --json      {\"restored\",\"from\"}\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_eval[] =
	"usage: ragdb eval DIR [--mode LIST] [-k N] [--db KB] [--tune] [--json]\n"
	"\n"
	"Measure retrieval quality on a BEIR-layout set: DIR holds corpus.jsonl\n"
	"({\"_id\",\"title\",\"text\"}), queries.jsonl ({\"_id\",\"text\"}) and qrels.tsv\n"
	"or qrels/test.tsv (query-id, corpus-id, score; TREC's 4 columns accepted).\n"
	"The corpus is ingested into a temporary knowledge base (removed after), every\n"
	"query is searched in each mode, chunk hits are folded into documents, and\n"
	"nDCG@10, Recall@10, Recall@100 and MRR@10 are printed per mode. The qrels\n"
	"are used only to compute the metrics.\n"
	"\n"
	"  --mode LIST       modes to run, comma-separated: vector, bm25, hybrid\n"
	"                    (default: all; a mode this build lacks shows \"not built\")\n"
	"  -k N              chunks retrieved per query (default 200)\n"
	"  --db KB           use (or create) the knowledge base KB and keep it; an\n"
	"                    unchanged corpus is not ingested again\n"
	"  --chunk-tokens N  chunk size for a new knowledge base and the ingest\n"
	"  --overlap N       chunk overlap in tokens (0 = none)\n"
	"  --dim N           vector dimension of a new knowledge base\n"
	"  --threads N       ingest and scan threads (default: number of cores)\n"
	"  --tune            run ragdb tune on the knowledge base before searching\n"
	"  --json            print the results as one JSON object (see docs/cli.md)\n"
	"  -h, --help        show this help\n";

static const char usage_tune[] =
	"usage: ragdb tune [--reset] [--json]\n"
	"\n"
	"Fit the built-in local embedder to this knowledge base: weight every word\n"
	"by how rare it is among the stored chunks, then re-embed every chunk (in\n"
	"steps of 256 MiB beside the old vectors, switched to at the end:\n"
	"interrupted or crashed, nothing changes). Searches and\n"
	"later ingests use the tuned embedder; its model becomes\n"
	"hash-v1+tuned-HASH. Tune again after large ingests to refresh the weights.\n"
	"\n"
	"  --reset     back to the plain embedder (hash-v1), re-embedding every chunk\n"
	"  --json      {\"model_before\",\"model\",\"chunks\",\"features\",\"vectors\",\"seconds\"}\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_chat[] =
	"usage: ragdb chat [--conversation ID] [--model M] [--no-stream] [--agentic]\n"
	"\n"
	"Ask questions in a conversation kept in the knowledge base, one per line of\n"
	"input (a script may pipe them in). Follow-up questions are rewritten into\n"
	"standalone searches from the earlier turns; a language model also sees the\n"
	"earlier turns, trimmed to its context window (docs/conversations.md).\n"
	"Prints the conversation id first; continue it later with --conversation.\n"
	"\n"
	"  /sources          list the last answer's sources\n"
	"  /new              start a new conversation\n"
	"  /quit             leave (so does the end of input)\n"
	"  --conversation ID continue (or start) the conversation ID\n"
	"  --model M         provider:model or a configured name (default: ragdb.json's\n"
	"                    default_model, else the extractive answerer)\n"
	"  --no-stream       print each answer when it is complete\n"
	"  --agentic         the model may search again before it answers (as query\n"
	"                    --agentic; needs a language model)\n"
	"  --db DIR          knowledge base directory\n"
	"  -h, --help        show this help\n";

static const char usage_conversations[] =
	"usage: ragdb conversations list|show ID|delete ID [--json]\n"
	"\n"
	"The conversations stored by `ragdb chat` and `ragdb query --conversation`:\n"
	"list them (id, turns, last update, first question), show one with its\n"
	"turns, models and sources, or delete one.\n"
	"\n"
	"  --json      list: {\"conversations\":[{\"id\",\"title\",\"turns\",\"created_ms\",\n"
	"              \"updated_ms\"}]}; show: the same with \"turns\":[{\"role\",\"text\",...}]\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_export_finetune[] =
	"usage: ragdb export-finetune [--format jsonl|csv] [--split F] [--out PREFIX]\n"
	"                             [--no-extractive] [--json]\n"
	"\n"
	"Write the stored conversations as fine-tuning data: PREFIX-train.EXT and\n"
	"PREFIX-valid.EXT. jsonl: OpenAI chat format, one {\"messages\":[...]} line per\n"
	"conversation; csv: \"input,output\" rows, one per question and answer. The\n"
	"split is by conversation and deterministic (ordered by a hash of the id; the\n"
	"first round(n x F) train).\n"
	"\n"
	"  --format FMT      jsonl (default) or csv\n"
	"  --split F         training fraction in [0,1] (default 0.8)\n"
	"  --out PREFIX      file name prefix (default finetune)\n"
	"  --no-extractive   leave out answers of the built-in extractive answerer\n"
	"  --json            print the counts as JSON\n"
	"  --db DIR          knowledge base directory\n"
	"  -h, --help        show this help\n";

static const char usage_models[] =
	"usage: ragdb models list|check [--json]\n"
	"\n"
	"list: the models named in ragdb.json (name, provider:model, endpoint, or\n"
	"endpoints and balancing policy, embedding or not, context window, prices,\n"
	"default, fallback chain). check: the knowledge base's embedder first (one\n"
	"text embedded past the caches; its dimension must be the stored one), then\n"
	"each model: an embedding model embeds one text (dimension shown), a\n"
	"language model gives a one-token answer (past the answer cache); ok with\n"
	"the latency, or the failure; exit 1 when any fails.\n"
	"\n"
	"  --json      {\"embedder\" (check): {...},\"models\":[{\"name\",\"provider\",\n"
	"              \"model\",\"endpoint\",\"endpoints\",\"balance\",\"embedder\",\n"
	"              \"context_window\",\"price_input\",\"price_output\",\"default\",\n"
	"              \"fallback\"; check: \"ok\",\"latency_ms\",\"dim\",\"dim_matches\",\n"
	"              \"error\"}]}\n"
	"  --config F  the configuration file (else $RAGDB_CONFIG, else DB/ragdb.json)\n"
	"  --db DIR    knowledge base directory\n"
	"  -h, --help  show this help\n";

static const char usage_help[] =
	"usage: ragdb help [COMMAND]\n"
	"\n"
	"Show the list of commands, or one command's help.\n";

static const char usage_reembed[] =
	"usage: ragdb reembed --embedder SPEC [--dim N] [--endpoint URL] [--json]\n"
	"\n"
	"Re-embed every chunk with another embedder (local, provider:model or a\n"
	"model named in ragdb.json; the dimension may change) and record it. The new\n"
	"vectors are written in steps of 256 MiB beside the old ones, which answer\n"
	"searches until the last step switches: interrupted, crashed or failed,\n"
	"nothing changes (ragdb compact frees what a crash left). Texts the\n"
	"persistent cache holds for that embedder cost no call, so switching back to\n"
	"an earlier model is free. An IVF index is dropped (rebuild it with\n"
	"ragdb index build). Progress and a summary go to stderr.\n"
	"\n"
	"  --embedder SPEC  the new embedder\n"
	"  --dim N          its dimension (default: the model's own)\n"
	"  --endpoint URL   the new embedder's endpoint\n"
	"  --json           {\"embedder_before\",\"embedder\",\"dim_before\",\"dim\",\"vectors\",\n"
	"                   \"index_dropped\",\"seconds\"}\n"
	"  --db DIR         knowledge base directory\n"
	"  -h, --help       show this help\n";

const cli_command cli_commands[] = {
	{ "init", "create a knowledge base", usage_init, cli_cmd_init },
	{ "ingest", "add files, directories and JSONL corpora", usage_ingest, cli_cmd_ingest },
	{ "search", "find the most similar chunks", usage_search, cli_cmd_search },
	{ "query", "answer a question with sources", usage_query, cli_cmd_query },
	{ "serve", "serve the knowledge base over HTTP (API, web page)", usage_serve, cli_cmd_serve },
	{ "list", "list documents", usage_list, cli_cmd_list },
	{ "show", "show one document", usage_show, cli_cmd_show },
	{ "delete", "delete documents by id or source", usage_delete, cli_cmd_delete },
	{ "stats", "show settings and sizes", usage_stats, cli_cmd_stats },
	{ "check", "verify the store's invariants", usage_check, cli_cmd_check },
	{ "compact", "drop deleted vectors", usage_compact, cli_cmd_compact },
	{ "import-vectors", "store vectors from .fvecs/.fbin", usage_import_vectors,
	  cli_cmd_import_vectors },
	{ "quantize", "set the quantized blocks (f32, bf16, int8, binary)", usage_quantize,
	  cli_cmd_quantize },
	{ "index", "build, show or drop the IVF index", usage_index, cli_cmd_index },
	{ "backup", "copy the knowledge base while it is in use", usage_backup, cli_cmd_backup },
	{ "restore", "put a backup back in place", usage_restore, cli_cmd_restore },
	{ "eval", "measure retrieval quality on a BEIR set", usage_eval, cli_cmd_eval },
	{ "tune", "fit the local embedder to the knowledge base", usage_tune, cli_cmd_tune },
	{ "reembed", "re-embed every chunk with another embedder", usage_reembed, cli_cmd_reembed },
	{ "chat", "ask questions in a stored conversation", usage_chat, cli_cmd_chat },
	{ "conversations", "list, show or delete conversations", usage_conversations,
	  cli_cmd_conversations },
	{ "export-finetune", "write conversations as fine-tuning data", usage_export_finetune,
	  cli_cmd_export_finetune },
	{ "models", "list configured models, check they answer (embedders too)", usage_models,
	  cli_cmd_models },
	{ "help", "show help", usage_help, cli_cmd_help },
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];

const cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < cli_n_commands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

void cli_print_help(FILE *out, const char *cmd)
{
	const cli_command *c = cmd ? cli_find_command(cmd) : NULL;

	if (c) {
		fputs(c->usage, out);
		return;
	}
	fprintf(out,
	        "usage: ragdb [--db DIR] COMMAND [options] [args]\n"
	        "\n"
	        "ragdb %s — a knowledge base you can search and ask questions of.\n"
	        "\n"
	        "commands:\n",
	        ragdb_version());
	for (size_t i = 0; i < cli_n_commands; i++)
		fprintf(out, "  %-9s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(out,
	        "\n"
	        "The knowledge base is --db DIR, else $RAGDB_DB, else ./.ragdb.\n"
	        "Start with: ragdb init && ragdb ingest DOCS/ && ragdb query \"...\"\n"
	        "`ragdb COMMAND --help` shows a command's options; `ragdb --version` the version.\n");
}

int cli_cmd_help(cli_ctx *ctx, int argc, char **argv)
{
	int c, rc;
	static const struct option longopts[] = { CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };

	cli_getopt_begin();
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (cli_common_option(ctx, c, optarg, &rc)) {
			if (rc >= 0)
				return rc;
			continue;
		}
		return cli_getopt_error(ctx, c, argv);
	}
	if (optind < argc) {
		if (!cli_find_command(argv[optind])) {
			fprintf(stderr, "ragdb help: unknown command '%s'\nsee ragdb help\n", argv[optind]);
			return CLI_EXIT_USAGE;
		}
		cli_print_help(stdout, argv[optind]);
		return CLI_EXIT_OK;
	}
	cli_print_help(stdout, NULL);
	return CLI_EXIT_OK;
}
