// What a recommendation starts from: weighted tracks, artists, genres, words, and the
// listener's skips among the seeds. Shared by the engine and its content helpers.

export interface Seeds {
  /** Track -> weight. Negative weights push the seed's neighbours down. */
  tracks: Map<number, number>;
  /** Artist -> weight (artist stations, a listener's favourite artists). */
  artists?: Map<number, number>;
  genres?: Map<number, number>;
  /** Words describing what is wanted (a playlist's name, an activity): baskets named alike are similar. */
  words?: string[];
  /**
   * Feedback on seeds: true = the listener skipped it, false = kept it. In session baskets
   * the seed's own outcome there is then matched: "what people kept after skipping X" is
   * what counts after a skip of X.
   */
  skipped?: ReadonlyMap<number, boolean>;
  /**
   * The listener's latest plays in order, oldest first (a user station): what followed the
   * longest run of them in other sessions scores as `seq` (see Engine, Blend.seq).
   */
  sequence?: readonly number[];
  /** Where the listener plays from now (a context type: user_collection, radio, ...): sessions from elsewhere weigh Blend.contextMismatch. */
  contextType?: string | null;
}
