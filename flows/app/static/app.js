// seqarena app: while a command runs, refresh what the page shows (no framework, no build).
(function () {
  var run = document.getElementById("run");
  if (!run) { setTimeout(function () { location.reload(); }, 1500); return; }  // check page
  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }
  function poll() {
    fetch(run.dataset.status, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (s) {
      if (!s.running) { location.reload(); return; }
      document.getElementById("state").textContent = s.state;
      document.getElementById("stage").textContent = s.stage || "";
      document.getElementById("log").textContent = s.log.join("\n");
      var body = document.querySelector("#trainings tbody"); body.textContent = "";
      s.trainings.forEach(function (t) {
        var tr = document.createElement("tr"), bar = document.createElement("progress"), td = document.createElement("td");
        bar.max = t.max_steps; bar.value = t.step; td.appendChild(bar);
        tr.append(cell(t.key), cell(t.step.toLocaleString("en") + " / " + t.max_steps.toLocaleString("en")), td,
                  cell(t.val_loss === null ? "-" : t.val_loss.toPrecision(4)), cell(t.state));
        body.appendChild(tr);
      });
      setTimeout(poll, 1000);
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
