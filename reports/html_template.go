package reports

// htmlSource is the page template of report.html. It loads nothing: the
// styles are inline, the charts inline SVG, and there is no script. The
// font stacks name local fonts only; the charts' text falls back from
// Liberation Sans (the font their layout was measured with) to
// metric-compatible Arimo, Arial and Helvetica.
const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gatelab {{.R.RunID}}: {{.R.Verdict}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;margin:0 auto;max-width:1280px;padding:1em 1.5em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin:.2em 0}
h2{font-size:1.35em;margin-top:2em;border-bottom:2px solid #ccc;padding-bottom:.2em}
h3{font-size:1.1em;margin:1.2em 0 .4em}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:.92em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.name{white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
dl.manifest{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;font-size:.9em}
dl.manifest dt{font-weight:600}
dl.manifest dd{margin:0}
.badge{display:inline-block;padding:.05em .5em;border-radius:.3em;font-weight:700;font-size:.85em;color:#fff;background:#777}
.badge.pass{background:#2a8d3a}.badge.fail{background:#c81d25}.badge.invalid{background:#d07000}
.error{color:#a00;font-weight:600}
.muted{color:#666}
figure.chart{margin:1em 0 1.5em;padding:.5em;border:1px solid #e3e3e3;border-radius:.3em}
figure.chart h3{margin:.2em 0 .4em}
figure.chart svg{display:block;max-width:100%;height:auto}
figure.chart svg text{font-family:"Liberation Sans",Arimo,Arial,Helvetica,sans-serif !important}
div.wide{overflow-x:auto}
figcaption{font-size:.85em;color:#555;margin-top:.3em}
nav ol{margin:.3em 0}
</style>
</head>
<body>
<header>
<h1>gatelab run <code>{{.R.RunID}}</code> <span class="badge {{verdictClass .R.Verdict}}">{{.R.Verdict}}</span></h1>
<p>Profile <strong>{{.R.Profile}}</strong>, exit code {{.R.ExitCode}}. Budgets: {{.Budgets.Pass}} passed, {{.Budgets.Fail}} failed{{if .Budgets.Other}}, {{.Budgets.Other}} without a verdict (no data, skipped or invalid){{end}}.</p>
{{with .R.Manifest}}<dl class="manifest">
<dt>git</dt><dd><code>{{.GitSHA}}</code>{{if .GitDirty}} <span class="error">(dirty tree)</span>{{end}}</dd>
<dt>Go</dt><dd>{{.GoVersion}}</dd>
<dt>CPU</dt><dd>{{.CPUModel}}, {{.Cores}} cores</dd>
<dt>kernel</dt><dd>{{.Kernel}}{{with .Hostname}} on {{.}}{{end}}</dd>
<dt>run</dt><dd>{{$.Duration}}</dd>
<dt>repetitions</dt><dd>{{.Reps}}</dd>
<dt>host load</dt><dd>before {{load .LoadBefore}}, after {{load .LoadAfter}} (1, 5, 15 min)</dd>
{{with .Args}}<dt>command</dt><dd><code>{{join . " "}}</code></dd>{{end}}
{{with $.Deps}}<dt>dependencies</dt><dd>{{join . "; "}}</dd>{{end}}
</dl>{{end}}
{{with .R.Notes}}<h3>Notes</h3><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Scenarios}}<nav><h3>Scenarios</h3><ol>{{range .Scenarios}}
<li><a href="#{{.ID}}">{{.S.Name}}</a>{{if .S.Error}} <span class="badge invalid">not run</span>{{else}} <span class="muted">({{.Budgets.Pass}} passed, {{.Budgets.Fail}} failed{{if .Budgets.Other}}, {{.Budgets.Other}} other{{end}})</span>{{end}}</li>{{end}}
</ol></nav>{{end}}
</header>
<main>
{{range .Scenarios}}{{$s := .}}<section id="{{.ID}}" class="scenario">
<h2>{{.S.Name}}</h2>
<p class="muted"><code>{{.S.File}}</code>. Load: {{.Load}}.{{range .Ups}} {{.}}{{end}}</p>
{{with .S.Description}}<p>{{.}}</p>{{end}}
{{with .S.Error}}<p class="error">The scenario could not run: {{.}}</p>{{end}}
{{with .S.Windows}}<table class="windows"><tr><th>window</th><th>fault</th><th>from</th><th>to</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td class="num">{{seconds .FromS}}</td><td class="num">{{seconds .ToS}}</td></tr>
{{end}}</table>{{end}}
{{with .Skipped}}<h3>Skipped targets</h3><table class="skipped"><tr><th>target</th><th>kind</th><th>reason</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Skipped}}</td></tr>
{{end}}</table>{{end}}
{{range .Charts}}<figure class="chart" id="{{.ID}}" data-chart="{{.Kind}}">
<h3>{{.Title}}</h3>
{{if .Err}}<p class="error">Chart not drawn: {{.Err}}</p>{{else}}{{.SVG}}{{end}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}
{{with .S.Knee}}<h3>Knee</h3><table class="knee"><tr><th>target</th><th>bound</th><th>knee</th><th>trials (rate: achieved, verdict)</th></tr>
{{range .}}<tr><td>{{.Target}}</td><td><code>{{.Bound}}</code></td><td class="num">{{printf "%.0f" .Knee}} req/s</td><td>{{range $i, $t := .Trials}}{{if $i}}; {{end}}{{printf "%.0f: %.0f" .Rate .Achieved}} {{if not .Valid}}invalid{{else if .OK}}ok{{else}}over{{end}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .Summary}}<h3>Summary</h3><div class="wide"><table class="summary"><tr><th>target</th><th>kind</th><th>valid reps</th><th>req/s</th><th>p50</th><th>p99</th><th>p99.9</th>{{if $s.HasOverhead}}<th>overhead p50</th><th>overhead p99</th><th>overhead p99.9</th>{{end}}<th>CPU / 1k req</th><th>peak RSS</th><th>errors</th><th>rank</th></tr>
{{range .}}<tr><td class="name">{{.Target}}{{if .GeneratorBound}} <span class="muted">(generator-bound)</span>{{end}}</td><td>{{.Kind}}</td><td class="num">{{.Reps}}</td><td class="num">{{.RPS}}</td><td class="num">{{.P50}}</td><td class="num">{{.P99}}</td><td class="num">{{.P999}}</td>{{if $s.HasOverhead}}<td class="num">{{.OverP50}}</td><td class="num">{{.OverP99}}</td><td class="num">{{.OverP999}}</td>{{end}}<td class="num">{{.CPU}}</td><td class="num">{{.RSS}}</td><td class="num">{{.Errors}}</td><td class="num">{{if .Rank}}{{.Rank}}{{end}}</td></tr>
{{end}}</table></div><p class="muted">Median over the valid repetitions, (min..max) when they differ. Latency is corrected for coordinated omission.</p>{{end}}
{{with .S.Budgets}}<h3>Budgets</h3><table class="budgets"><tr><th>verdict</th><th>target</th><th>budget</th><th>observed</th><th>detail</th></tr>
{{range .}}<tr><td><span class="badge {{verdictClass .Verdict}}">{{.Verdict}}</span></td><td>{{.Target}}</td><td><code>{{.Expr}}</code>{{if .Line}} <span class="muted">(line {{.Line}})</span>{{end}}</td><td>{{.Text}}</td><td>{{.Detail}}{{if .Abort}} <span class="muted">(abort budget: checked during the run)</span>{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .Faults}}<h3>Faults as applied</h3><table class="faults"><tr><th>target</th><th>rep</th><th>fault</th><th>kind</th><th>start</th><th>end</th><th>error</th></tr>
{{range .}}<tr><td>{{.Target}}</td><td class="num">{{.Rep}}</td><td>{{.Name}}</td><td>{{.Kind}}</td><td class="num">{{seconds .StartS}}</td><td class="num">{{seconds .EndS}}</td><td{{if .Error}} class="error"{{end}}>{{.Error}}</td></tr>
{{end}}</table>{{end}}
{{with .Invalid}}<h3>Invalid records</h3><table class="invalid"><tr><th>target</th><th>rep</th><th>reason</th><th>status</th></tr>
{{range .}}<tr><td>{{.Target}}</td><td class="num">{{.Rep}}</td><td>{{.Invalid}}</td><td>{{if .Superseded}}superseded by a re-run{{else if .KneeProbe}}a knee-search trial at {{printf "%.0f" .Offered}} req/s: part of the search's answer{{else}}counts as invalid{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .S.Parity}}<h3>Parity</h3><table class="parity"><tr><th>target</th><th>parity</th><th>differences</th></tr>
{{range .}}<tr><td>{{.Target}}</td><td><span class="badge {{if .OK}}pass{{else}}fail{{end}}">{{if .OK}}same{{else}}differs{{end}}</span></td><td>{{range .Diffs}}<div>{{.}}</div>{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .S.Notes}}<h3>Notes</h3><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
</section>
{{end}}</main>
</body>
</html>
`
