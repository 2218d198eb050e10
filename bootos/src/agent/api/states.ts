// The states the local API reports (docs/api.md), in one place: the agent's state machines are typed by them and the
// kiosk reads them, so the two cannot drift apart. No imports: the kiosk's browser bundle takes this file as it is.

/** An app's state (the machine is drawn in app/app.ts). */
export const APP_STATES = ['available', 'downloading', 'cached', 'starting', 'running', 'frozen', 'stopping', 'stopped', 'failed'] as const;
export type AppState = (typeof APP_STATES)[number];

/** A hot update's state (update/updater.ts draws the machine, update/hot-update.ts runs it). */
export const UPDATE_STATES = ['idle', 'downloading', 'pending', 'preparing', 'starting', 'switching', 'rolling-back', 'done', 'failed'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** The channel: verified (ok), not reached yet or again (retrying), or what the registry served was refused (error). */
export const CHANNEL_STATES = ['ok', 'retrying', 'error'] as const;
export type ChannelState = (typeof CHANNEL_STATES)[number];

/** What the API can ask of an app (POST /api/apps/:name/<action>). */
export const APP_ACTIONS = ['start', 'stop', 'freeze'] as const;
export type AppAction = (typeof APP_ACTIONS)[number];
