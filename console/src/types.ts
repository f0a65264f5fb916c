// The gateway's answers as the console reads them (docs/api.md has each in full).

export interface Task {
  task_id: string;
  status: string;
  task_name?: string;
  mode: string;
  prompt: string;
  model?: string;
  project_id?: string;
  image?: string;
  plan?: { planner_attempts: number; planner_error?: string; subtasks: number; merged: number };
  /** Where its model calls go (a node's model server, or a provider through the egress) and why. */
  routing?: { via: "node" | "egress"; model?: string; reason: string };
  /** Absent when there are none (as every list the gateway leaves out when empty). */
  attachments?: { attachment_id: string; name: string; size: number }[];
  created_at: string;
  updated_at: string;
}

export interface LogLine {
  job_id: string;
  attempt: number;
  seq: number;
  stream: string;
  text: string;
}

export interface JobResult {
  job_id: string;
  status: string;
  attempt: number;
  exit_code?: number;
  failed_command?: string;
  error?: string;
  reason?: string;
  stdout: string;
  stderr: string;
  started_at?: string;
  ended_at?: string;
}

export interface TaskResult {
  task_id: string;
  status: string;
  exit_code?: number;
  stdout?: string;
  stderr?: string;
  jobs: JobResult[];
}

export interface Subtask {
  number: number;
  title: string;
  spec: string;
  acceptance: string;
  depends_on: number[];
  state: string;
  reason?: string;
  attempts: number;
  branch: string;
  job_id?: string;
  pull_request?: { number: number; url: string };
  updated_at: string;
}

export interface Run {
  run_id: string;
  role: string;
  subtask?: number;
  attempt: number;
  status: string;
  started_at?: string;
  ended_at?: string;
  exit_code?: number;
  error?: string;
}

export interface Project {
  project_id: string;
  name: string;
  repo_url: string;
  default_branch: string;
  has_credential?: boolean;
  credential_name?: string;
  auto_start?: boolean;
  image?: string;
  test_command?: string;
  forge_url?: string;
  forge_repo?: string;
  node_label?: string;
  created_at: string;
}

export interface Node {
  node_id: string;
  node_name: string;
  state: string;
  labels?: string[];
  last_seen_at?: string;
  slots_in_use?: number;
  capabilities: {
    job_slots: number;
    sandbox_images?: string[];
    inference?: { endpoint: string; reachable: boolean; models?: string[] };
  };
}
