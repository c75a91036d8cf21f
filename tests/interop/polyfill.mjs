// Polyfills needed by js-libp2p 3.x on Node 20. Must be evaluated BEFORE any
// libp2p module is loaded: import this file first, then load libp2p modules
// with dynamic `await import(...)` (or run `node --import ./polyfill.mjs`).

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
