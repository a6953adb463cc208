// Loaded between require.js and the ipywidgets HTML manager on pages with
// widgets (see nb_ipywidgets_js in _config.yml). Two bridges, so that the
// vendored manager works offline next to the book's MathJax 3:
(function () {
  // 1. The manager finds its icon fonts next to its own AMD module URL; map
  //    that module to our vendored copy instead of a CDN-shaped path.
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  if (window.require && window.require.config) {
    window.require.config({
      paths: { "@jupyter-widgets/html-manager/dist": here + "html-manager" },
    });
  }
  // 2. Widget labels are typeset with the MathJax 2 call
  //    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); MathJax 3 has
  //    typesetPromise instead. MathJax loads deferred, so add the bridge
  //    when the document is parsed, before the manager renders widgets.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        mj.startup.promise.then(function () {
          return mj.typesetPromise(element ? [element] : undefined);
        });
      },
    };
  });
})();
